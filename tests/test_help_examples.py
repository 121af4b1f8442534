"""Every example line in every command's --help runs, in a folder prepared with the files the
examples name (issue 16, item 5): it exits 0, or the code its trailing comment declares
(``  # exits 1: why``). Examples that need CUDA, a browser or the npm registry are skipped
with the reason when those are absent."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import IRIS_CSV, run_cli
from irisonnx.cli import COMMANDS, cli

EXIT = re.compile(r"\s+#\s*exits (\d+):")


def _helps() -> dict[str, str]:
    out = {}
    for name in COMMANDS:
        r = CliRunner().invoke(cli, [name, "--help"], terminal_width=100)
        assert r.exit_code == 0, name
        out[name] = r.output
        cmd = cli.get_command(None, name)  # type: ignore[arg-type]
        for sub in getattr(cmd, "commands", {}):
            out[f"{name} {sub}"] = CliRunner().invoke(cli, [name, sub, "--help"]).output
    return out


def examples() -> list[tuple[str, str, int]]:
    """(command, example line, expected exit code) for every indented line of a help text,
    above its options, that starts with ``irisonnx `` or ``python ``."""
    found = []
    for name, text in _helps().items():
        for line in text.split("\nOptions:")[0].splitlines():
            s = line.strip()
            if line.startswith("    ") and (s.startswith("irisonnx ") or s.startswith("python ")):
                m = EXIT.search(s)
                found.append((name, s[: m.start()] if m else s, int(m.group(1)) if m else 0))
    return found


EXAMPLES = examples()


def test_every_command_has_examples_and_the_parser_sees_them() -> None:
    assert {name for name, _, _ in EXAMPLES} >= set(COMMANDS), "a command without an example"
    assert len(EXAMPLES) >= 40
    assert ("compare", "irisonnx compare artifacts/runs/iris --runtimes torch,ort-cpu:O0,ort-cpu:O3 --exact", 1) in EXAMPLES


NET = '''
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))

    def forward(self, features):
        logits = self.body(features)
        return logits, logits.argmax(1)


def build():
    torch.manual_seed(0)
    return Net().eval()
'''

LM = '''
import torch
from torch import nn


class LM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(1000, 8)
        self.head = nn.Linear(8, 5)

    def forward(self, ids):
        return self.head(self.emb(ids).mean(1))


def model():
    torch.manual_seed(0)
    return LM().eval()
'''


def _onnx_models(d: Path) -> None:
    """cnn.onnx (image float32 [N,1,8,8]) and tokens.onnx (ids int64 [N,T]), made with onnx."""
    import onnx
    from onnx import TensorProto as T
    from onnx import helper, numpy_helper

    rng = np.random.default_rng(0)
    vi = helper.make_tensor_value_info
    w = numpy_helper.from_array(rng.normal(0, 0.5, (4, 1, 3, 3)).astype(np.float32), "w")
    b = numpy_helper.from_array(rng.normal(0, 0.1, (4,)).astype(np.float32), "b")
    g = helper.make_graph(
        [helper.make_node("Conv", ["image", "w", "b"], ["c"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c"], ["r"]), helper.make_node("GlobalAveragePool", ["r"], ["p"]), helper.make_node("Flatten", ["p"], ["logits"])],
        "cnn", [vi("image", T.FLOAT, ["N", 1, 8, 8])], [vi("logits", T.FLOAT, ["N", 4])], [w, b],
    )
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), d / "cnn.onnx")
    e = numpy_helper.from_array(rng.normal(0, 0.1, (1000, 8)).astype(np.float32), "emb")
    h = numpy_helper.from_array(rng.normal(0, 0.1, (8, 5)).astype(np.float32), "head")
    g = helper.make_graph(
        [helper.make_node("Gather", ["emb", "ids"], ["x"]), helper.make_node("ReduceMean", ["x"], ["m"], axes=[1], keepdims=0), helper.make_node("MatMul", ["m", "head"], ["logits"])],
        "tokens", [vi("ids", T.INT64, ["N", "T"])], [vi("logits", T.FLOAT, ["N", 5])], [e, h],
    )
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), d / "tokens.onnx")


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper
    from sklearn.datasets import load_iris, load_wine
    from sklearn.linear_model import LogisticRegression
    from skl2onnx import to_onnx

    d = tmp_path_factory.mktemp("examples")
    env = {"IRISONNX_DATASTORE": str(d / "datastore"), "XDG_CACHE_HOME": str(d / "cache")}
    r = run_cli("pipeline", "--no-web", cwd=d, env=env)  # artifacts/runs/iris, as `make demo` leaves it
    assert r.returncode == 0, r.stderr
    (d / "datastore" / "raw").mkdir()  # the project folder's layout, as the examples assume
    shutil.copyfile(IRIS_CSV, d / "datastore" / "raw" / "iris.csv")
    wine = load_wine(as_frame=True).frame.rename(columns={"target": "class"})
    wine.to_csv(d / "wine.csv", index=False)
    (d / "net.py").write_text(textwrap.dedent(NET))
    (d / "lm.py").write_text(textwrap.dedent(LM))
    rng = np.random.default_rng(1)
    x = rng.normal(4, 1, (8, 4)).astype(np.float32)
    np.savez(d / "ex.npz", features=x)
    np.savez(d / "ids.npz", ids=rng.integers(0, 1000, (2, 5)).astype(np.int64))
    r = run_cli("export", "--module", "net.py:build", "--example", "ex.npz", "--out", "net.onnx", "--output-names", "logits,label", cwd=d, env=env)
    assert r.returncode == 0, r.stderr
    shutil.copyfile(d / "artifacts/runs/iris/model.onnx", d / "model.onnx")
    np.savez(d / "inputs.npz", features=x)
    m = onnx.load(d / "model.onnx")  # edited.onnx: one weight nudged
    t = m.graph.initializer[0]
    a = numpy_helper.to_array(t).copy()
    a.flat[0] += 0.5
    t.CopyFrom(numpy_helper.from_array(a, t.name))
    onnx.save(m, d / "edited.onnx")
    xi, yi = load_iris(return_X_y=True)
    onnx_sk = to_onnx(LogisticRegression(max_iter=500).fit(xi.astype(np.float32), yi), xi[:1].astype(np.float32), options={"zipmap": False})
    (d / "sklearn.onnx").write_bytes(onnx_sk.SerializeToString())
    np.save(d / "x.npy", xi[:30].astype(np.float32))
    _onnx_models(d)
    np.savez(d / "calib.npz", ids=rng.integers(0, 1000, (16, 16)).astype(np.int64))
    ts = d / "test_data_set_0"  # the ONNX model zoo's layout: input_0.pb, output_0.pb
    ts.mkdir()
    (ts / "input_0.pb").write_bytes(numpy_helper.from_array(x, "features").SerializeToString())
    y = ort.InferenceSession(str(d / "model.onnx"), providers=["CPUExecutionProvider"]).run(None, {"features": x})[0]
    (ts / "output_0.pb").write_bytes(numpy_helper.from_array(y, "logits").SerializeToString())
    return d, env


def _skip_reason(line: str) -> str | None:
    if "ort-cuda" in line:
        from irisonnx.runtimes.ort_engine import cuda_available

        ok, why = cuda_available()
        return None if ok else f"needs CUDA: {why}"
    if "--web" in line.split() or re.search(r"--runtimes \S*\bweb\b", line):
        from irisonnx.browser.session import browser_available

        ok, why = browser_available()
        return None if ok else f"needs the browser runtime: {why}"
    if "remote:" in line:
        return "needs an inference server at that URL (tests/test_serve.py runs compare against one)"
    if line.startswith("irisonnx serve") and "--emit-kserve" not in line:
        return "serves until stopped (tests/test_serve*.py start and stop it)"
    if line.startswith("irisonnx setup web"):
        return "installs npm packages from the npm registry (tests/test_wheel.py covers the missing-packages message)"
    if line.startswith("irisonnx setup litert"):
        return "downloads about 2.6 GB from the package index (tests/test_runtime_litert.py covers a failed setup and the missing-converter message)"
    return None


@pytest.mark.slow  # about 45 examples, 1-15 s each
@pytest.mark.parametrize("name,line,code", EXAMPLES, ids=[f"{n}:{i}" for i, (n, _, _) in enumerate(EXAMPLES)])
def test_help_example_runs(sandbox: tuple[Path, dict[str, str]], tmp_path: Path, name: str, line: str, code: int) -> None:
    why = _skip_reason(line)
    if why:
        pytest.skip(why)
    src, env = sandbox
    d = tmp_path / "work"  # each example in its own copy: one that re-exports leaves the next its run
    shutil.copytree(src, d, symlinks=True)
    env = {k: v.replace(str(src), str(d)) for k, v in env.items()}
    argv = shlex.split(line)
    argv = [sys.executable, "-m", "irisonnx", *argv[1:]] if argv[0] == "irisonnx" else [sys.executable, *argv[1:]]
    r = subprocess.run(argv, cwd=d, env={**os.environ, **env}, capture_output=True, text=True, timeout=300)
    assert r.returncode == code, f"{line}\nexit {r.returncode}, expected {code}\n{r.stderr[-2000:]}"
    if code:
        assert r.stderr.count("\n") >= 1 and "Traceback" not in r.stderr
