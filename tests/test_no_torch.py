"""The deploy path needs no torch: ``predict``, ``inspect`` and ``--help`` run where torch (and
onnxscript, safetensors, tqdm) cannot be imported, and never import torch where it can."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import IRIS_CSV
from onnx_helpers import exported_run

# These are hidden as an uninstalled package is: importlib.util.find_spec gives None and
# ``import torch`` raises ModuleNotFoundError("No module named 'torch'", name="torch"). A
# deployment box with onnxruntime, onnx, numpy and click only (blocked_env), or the base
# install without the [train] and [report] extras (base_env).
BLOCKER = textwrap.dedent(
    """
    import sys
    from importlib.machinery import PathFinder

    BLOCKED = {blocked!r}

    class _Hidden(PathFinder):
        @classmethod
        def find_spec(cls, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                return None
            return PathFinder.find_spec(name, path, target)

    sys.meta_path[:] = [_Hidden if f is PathFinder else f for f in sys.meta_path]
    """
)


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory, tiny_run: Path) -> Path:
    return exported_run(tmp_path_factory, tiny_run, "dynamo", True, True)[0]


@pytest.fixture(scope="module")
def blocked_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    import os

    return _hiding(tmp_path_factory, ("torch", "onnxscript", "safetensors", "tqdm", "matplotlib"))


@pytest.fixture(scope="module")
def base_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """``pip install irisonnx``: the base install, no extras."""
    return _hiding(tmp_path_factory, ("torch", "onnxscript", "matplotlib"))


def _hiding(tmp_path_factory: pytest.TempPathFactory, blocked: tuple[str, ...]) -> dict[str, str]:
    import os

    site = tmp_path_factory.mktemp("no-torch-site")
    (site / "sitecustomize.py").write_text(BLOCKER.replace("{blocked!r}", repr(blocked)))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(site), *filter(None, [env.get("PYTHONPATH")])])
    return env


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, timeout=120)


def test_the_blocker_blocks(blocked_env: dict[str, str]) -> None:
    """Without this the other tests here would prove nothing."""
    r = _run(blocked_env, "-c", "import torch")
    assert r.returncode == 1 and "ModuleNotFoundError: No module named 'torch'" in r.stderr
    r = _run(blocked_env, "-c", "import importlib.util, sys; sys.exit(importlib.util.find_spec('matplotlib') is not None)")
    assert r.returncode == 0, r.stderr
    r = _run(blocked_env, "-c", "import safetensors.numpy")
    assert r.returncode == 1


@pytest.mark.parametrize(
    "args",
    [
        ["predict", "{run}", "--values", "5.1,3.5,1.4,0.2", "--json"],
        ["predict", "{run}/model.onnx", "--input", str(IRIS_CSV)],
        ["inspect", "{run}", "--json"],
        ["--help"],
        ["predict", "--help"],
        ["inspect", "--help"],
        ["export", "--help"],
    ],
    ids=["predict-values", "predict-csv", "inspect", "help", "predict-help", "inspect-help", "export-help"],
)
def test_works_without_torch_installed(blocked_env: dict[str, str], full: Path, args: list[str]) -> None:
    r = _run(blocked_env, "-m", "irisonnx", *[a.format(run=full) for a in args])
    assert r.returncode == 0, r.stderr
    assert r.stderr == "" or args[0] == "predict"  # predict notes an ignored 'species' column on stderr
    assert "Traceback" not in r.stderr and r.stdout


def test_predict_under_the_blocker_gives_the_torch_answer(blocked_env: dict[str, str], full: Path) -> None:
    r = _run(blocked_env, "-m", "irisonnx", "predict", str(full), "--values", "5.1,3.5,1.4,0.2", "--json")
    doc = json.loads(r.stdout)
    assert doc["predictions"][0]["class"] == "setosa"


PROBE = textwrap.dedent(
    """
    import json, sys
    from irisonnx.cli import main
    try:
        main(sys.argv[1:])
    except SystemExit as exc:
        code = exc.code
    heavy = sorted(m for m in ("torch", "onnxscript", "safetensors", "onnx", "onnxruntime", "numpy") if m in sys.modules)
    print("\\nPROBE " + json.dumps({"code": code, "loaded": heavy}))
    """
)


def _probe(full: Path, *args: str) -> dict:
    r = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=120)
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("PROBE ")][-1]
    return json.loads(line[len("PROBE ") :])


def test_torch_is_not_imported_even_when_installed(full: Path) -> None:
    for args in (["predict", str(full), "--values", "5.1,3.5,1.4,0.2"], ["inspect", str(full)]):
        got = _probe(full, *args)
        assert got["code"] == 0 and "torch" not in got["loaded"] and "onnxscript" not in got["loaded"], (args, got)
        assert ("onnxruntime" if args[0] == "predict" else "onnx") in got["loaded"]  # the probe sees real imports
    for args in (["--help"], ["predict", "--help"], ["export", "--help"], ["inspect", "--help"]):
        got = _probe(full, *args)
        assert got == {"code": 0, "loaded": []}, args  # --help loads click and irisonnx only


@pytest.fixture(scope="module")
def foreign(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A model irisonnx did not write (two inputs, int64 and bool) and its inputs as a .npz."""
    import numpy as np
    import onnx
    from onnx import TensorProto as T
    from onnx import helper

    d = tmp_path_factory.mktemp("foreign")
    vi = helper.make_tensor_value_info
    graph = helper.make_graph(
        [helper.make_node("Cast", ["mask"], ["m"], to=T.INT64), helper.make_node("Mul", ["ids", "m"], ["kept"])],
        "g",
        [vi("ids", T.INT64, ["n", 3]), vi("mask", T.BOOL, ["n", 3])],
        [vi("kept", T.INT64, ["n", 3])],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), d / "foreign.onnx")
    np.savez(d / "in.npz", ids=np.arange(6, dtype=np.int64).reshape(2, 3), mask=np.array([[True, False, True], [False, True, True]]))
    return d / "foreign.onnx", d / "in.npz"


def test_any_model_predict_and_inspect_need_no_torch(blocked_env: dict[str, str], foreign: tuple[Path, Path], tmp_path: Path) -> None:
    import numpy as np

    model, inputs = foreign
    out = tmp_path / "out.npz"
    for args in (["predict", str(model), "--input", str(inputs), "--output", str(out)], ["predict", str(model), "--input", str(inputs), "--json"], ["inspect", str(model)], ["inspect", str(model), "--json"]):
        r = _run(blocked_env, "-m", "irisonnx", *args)
        assert r.returncode == 0 and r.stderr == "", (args, r.stderr)
        got = _probe(model, *args)
        assert got["code"] == 0 and "torch" not in got["loaded"] and "onnxscript" not in got["loaded"], (args, got)
    with np.load(out) as z:
        assert z["kept"].tolist() == [[0, 0, 2], [0, 4, 5]]


# --- a command that needs a missing extra names it: exit 4, one line ------------------------------


@pytest.mark.parametrize(
    "args,extra",
    [
        (["train", "--epochs", "1", "--run", "{tmp}/run"], "torch is not installed: pip install 'irisonnx[train]'"),
        (["pipeline", "--run", "{tmp}/run", "--no-web"], "pipeline stage 'train' failed: torch is not installed: pip install 'irisonnx[train]'"),
        (["export", "{run}", "--out", "{tmp}/m.onnx"], "torch is not installed: pip install 'irisonnx[train]'"),
        (["report", "{run}", "--out", "{tmp}/r.html"], "matplotlib is not installed: pip install 'irisonnx[report]'"),
    ],
    ids=["train", "pipeline", "export", "report"],
)
def test_a_missing_extra_is_named(base_env: dict[str, str], datastore: Path, full: Path, tmp_path: Path, args: list[str], extra: str) -> None:
    env = {**base_env, "IRISONNX_DATASTORE": str(datastore)}
    r = _run(env, "-m", "irisonnx", *[a.format(run=full, tmp=tmp_path) for a in args])
    assert (r.returncode, r.stderr) == (4, f"irisonnx: error: {extra}\n")
    assert list(tmp_path.iterdir()) == []  # refused before any folder or file was made


def test_compare_without_torch_uses_the_base_install(blocked_env: dict[str, str], full: Path) -> None:
    r = _run(blocked_env, "-m", "irisonnx", "compare", str(full), "--runtimes", "ort-cpu,reference", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["passed"] is True
