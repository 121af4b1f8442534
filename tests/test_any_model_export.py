"""Bring your own torch module: ``export --module``, ``compare --module`` and ``irisonnx.check``.

The modules are written by the tests (a small CNN with an ``image`` input, a two-input model
with int64 token ids through an embedding plus a float input). Expected outputs come from the
torch modules themselves (the oracle), run here, with the comparator's stated tolerance.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from tests.onnx_helpers import cli, one_error_line

NET = textwrap.dedent(
    '''
    import torch
    from torch import nn


    class CNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3, padding=1)
            self.fc = nn.Linear(4 * 7 * 7, 5)

        def forward(self, image):
            x = torch.relu(self.conv(image))
            x = nn.functional.max_pool2d(x, 4)
            return self.fc(x.flatten(1))


    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(20, 8)
            self.fc = nn.Linear(8 + 3, 2)

        def forward(self, ids, extra):
            e = self.emb(ids).mean(1)
            out = self.fc(torch.cat([e, extra], 1))
            return out, out.argmax(1)


    class Branchy(nn.Module):
        """Data-dependent Python control flow: tracing records the branch the example took."""

        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 2)

        def forward(self, x):
            if x.sum() > 0:
                return self.fc(x)
            return -self.fc(x)


    def cnn():
        torch.manual_seed(0)
        return CNN()


    def two():
        torch.manual_seed(1)
        return Two()


    def branchy():
        torch.manual_seed(2)
        return Branchy()


    def broken():
        raise RuntimeError("weights file missing")


    def not_a_module():
        return {"weights": 1}
    '''
)


def _image(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, 1, 28, 28)).astype(np.float32)


def _two_inputs(n: int, seq: int = 5, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"ids": rng.integers(0, 20, (n, seq)).astype(np.int64), "extra": rng.standard_normal((n, 3)).astype(np.float32)}


def _torch(factory: str, net: Path, *arrays: np.ndarray) -> list[np.ndarray]:
    """The oracle: the user's module run by torch directly, outside irisonnx."""
    import importlib.util

    import torch

    spec = importlib.util.spec_from_file_location("oracle_net", net)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    m = getattr(mod, factory)().eval()
    with torch.no_grad():
        out = m(*(torch.from_numpy(a) for a in arrays))
    return [o.numpy() for o in (out if isinstance(out, tuple) else (out,))]


def _ort(path: Path, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feeds)


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("byo")
    (d / "net.py").write_text(NET)
    np.savez(d / "cnn.npz", image=_image(4))
    np.savez(d / "two.npz", **_two_inputs(4))
    return d


@pytest.fixture(scope="module")
def cnn_onnx(work: Path) -> tuple[Path, str]:
    from irisonnx.cli import main

    out = work / "cnn.onnx"
    with pytest.raises(SystemExit) as exc:
        main(["export", "--module", f"{work / 'net.py'}:cnn", "--example", str(work / "cnn.npz"), "--out", str(out), "--json"])
    assert exc.value.code == 0
    return out, str(work)


def test_export_cnn_names_inputs_after_forward_and_runs_at_any_batch(work: Path, cnn_onnx: tuple[Path, str]) -> None:
    import onnx

    out, _ = cnn_onnx
    m = onnx.load(str(out))
    assert [i.name for i in m.graph.input] == ["image"]  # forward's parameter name
    dims = m.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch" and [d.dim_value for d in dims[1:]] == [1, 28, 28]
    assert [o.name for o in m.graph.output] == ["output_0"]
    meta = {p.key: p.value for p in m.metadata_props}
    assert meta["exporter"] == "dynamo" and meta["module"] == "net.py:cnn"
    assert json.loads(meta["input_names"]) == ["image"] and json.loads(meta["output_names"]) == ["output_0"]
    assert meta["torch_version"] and "format" not in meta  # not an irisonnx classifier
    # No absolute path of the builder's file system anywhere in the model's bytes.
    assert str(work).encode() not in out.read_bytes() and b"/tmp" not in out.read_bytes()
    for n in (1, 7):
        x = _image(n, seed=n)
        (got,) = _ort(out, {"image": x})
        (want,) = _torch("cnn", work / "net.py", x)
        assert got.shape == (n, 5)
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)


def test_export_two_inputs_int64_ids_with_a_dynamic_sequence(capsys: pytest.CaptureFixture, work: Path, tmp_path: Path) -> None:
    out = tmp_path / "two.onnx"
    code, stdout, err = cli(capsys, "export", "--module", f"{work / 'net.py'}:two", "--example", str(work / "two.npz"), "--out", str(out), "--output-names", "logits,label", "--dynamic", "ids:1=seq", "--json")
    assert code == 0, err
    rep = json.loads(stdout)
    assert rep["validated"] is True
    assert rep["inputs"] == [{"name": "ids", "dtype": "int64", "shape": ["batch", "seq"]}, {"name": "extra", "dtype": "float32", "shape": ["batch", 3]}]
    assert [o["name"] for o in rep["outputs"]] == ["logits", "label"] and rep["outputs"][1]["dtype"] == "int64"
    assert [p["n_rows"] for p in rep["parity"]] == [4, 1]  # the example, then another batch size
    assert all(p["passed"] and p["tolerance"]["atol"] == 1e-5 for p in rep["parity"])
    for n, seq in ((1, 5), (7, 9)):
        f = _two_inputs(n, seq, seed=n)
        got = _ort(out, f)
        want = _torch("two", work / "net.py", f["ids"], f["extra"])
        np.testing.assert_allclose(got[0], want[0], atol=1e-5, rtol=1e-5)
        assert got[1].dtype == np.int64 and (got[1] == want[1]).all()


def test_export_fails_with_exit_1_when_onnx_disagrees_and_keeps_the_file_marked(capsys: pytest.CaptureFixture, work: Path, tmp_path: Path) -> None:
    """Tracing freezes data-dependent control flow: the example's rows sum above 0, its first
    row alone below 0, so the second batch size (1 row) takes the other branch in torch."""
    x = np.array([[-1.0, -1.0, -1.0], [5.0, 5.0, 5.0]], dtype=np.float32)
    np.savez(tmp_path / "ex.npz", x=x)
    out = tmp_path / "branchy.onnx"
    code, stdout, err = cli(capsys, "export", "--module", f"{work / 'net.py'}:branchy", "--example", str(tmp_path / "ex.npz"), "--out", str(out), "--exporter", "torchscript")
    assert code == 1, err
    assert "ONNX model disagrees with torch" in one_error_line(err, 1) and "output_0" in err
    assert "FAIL" in stdout
    import onnx

    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert meta["irisonnx_validated"] == "false"


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("nowhere.py:cnn", "--module file not found"),
        ("net.py:missing", "has no callable 'missing'"),
        ("net.py:broken", "the factory failed: RuntimeError: weights file missing"),
        ("net.py:not_a_module", "returned a dict"),
        ("net.py", "bad --module"),
    ],
)
def test_bad_module_specs_exit_2_in_one_line(capsys: pytest.CaptureFixture, work: Path, tmp_path: Path, spec: str, words: str) -> None:
    code, _, err = cli(capsys, "export", "--module", str(work / spec), "--example", str(work / "cnn.npz"), "--out", str(tmp_path / "m.onnx"))
    assert code == 2
    assert words in one_error_line(err, 2)
    assert not (tmp_path / "m.onnx").exists()


def test_example_arrays_must_match_forwards_parameters(capsys: pytest.CaptureFixture, work: Path, tmp_path: Path) -> None:
    f = _two_inputs(2)
    np.savez(tmp_path / "bad.npz", ids=f["ids"], other=f["extra"])
    code, _, err = cli(capsys, "export", "--module", f"{work / 'net.py'}:two", "--example", str(tmp_path / "bad.npz"), "--out", str(tmp_path / "m.onnx"))
    line = one_error_line(err, 2)
    assert code == 2 and "missing 'extra'" in line and "extra 'other'" in line
    code, _, err = cli(capsys, "export", "--module", f"{work / 'net.py'}:two", "--example", str(work / "two.npz"), "--out", str(tmp_path / "m.onnx"), "--dynamic", "nope:0=b")
    assert code == 2 and "unknown input 'nope'" in one_error_line(err, 2)


def _sabotage(src: Path, dst: Path) -> None:
    """Move one conv weight by 0.5: a wrong model that still loads and runs."""
    import onnx
    from onnx import numpy_helper

    m = onnx.load(str(src))
    t = next(t for t in m.graph.initializer if t.name == "conv.weight")
    a = numpy_helper.to_array(t).copy()
    a.flat[0] += 0.5
    t.CopyFrom(numpy_helper.from_array(a, t.name))
    onnx.save(m, str(dst))


def test_compare_module_end_to_end_and_locate(capsys: pytest.CaptureFixture, work: Path, cnn_onnx: tuple[Path, str], tmp_path: Path) -> None:
    good, _ = cnn_onnx
    code, stdout, err = cli(capsys, "compare", str(good), "--module", f"{work / 'net.py'}:cnn", "--runtimes", "torch,ort-cpu,reference", "--inputs", "random:16", "--json")
    assert code == 0, err
    rep = json.loads(stdout)
    assert rep["baseline"] == "torch" and [p["runtime"] for p in rep["pairs"]] == ["ort-cpu", "reference"]
    assert rep["pairs"][0]["outputs"][0]["n_elements"] == 16 * 5
    bad = tmp_path / "bad.onnx"
    _sabotage(good, bad)
    code, stdout, err = cli(capsys, "compare", str(bad), "--module", f"{work / 'net.py'}:cnn", "--runtimes", "torch,ort-cpu", "--inputs", str(work / "cnn.npz"), "--locate", "--json")
    assert code == 1
    rep = json.loads(stdout)
    assert rep["pairs"][0]["passed"] is False
    (loc,) = rep["locate"]
    first = loc["first_divergence"]
    assert first["op_type"] == "Conv" and "conv.weight" in first["inputs"] and first["torch_module"].startswith("conv ")


def test_check_api_on_a_module_and_on_onnx_files(work: Path, cnn_onnx: tuple[Path, str], tmp_path: Path) -> None:
    import importlib.util

    import torch

    import irisonnx
    from irisonnx.errors import DataError, UsageError

    spec = importlib.util.spec_from_file_location("check_net", work / "net.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    f = _two_inputs(3)
    res = irisonnx.check(mod.two(), (torch.from_numpy(f["ids"]), torch.from_numpy(f["extra"])), exporter="torchscript", output_names=["logits", "label"], onnx_path=tmp_path / "two.onnx")
    assert res.passed and res.baseline == "torch" and set(res.pairs) == {"ort-cpu", "reference"}
    assert set(res.pairs["ort-cpu"]) == {"logits", "label"} and res.pairs["ort-cpu"]["logits"].max_abs <= 1e-5
    assert res.onnx_path == tmp_path / "two.onnx" and res.onnx_path.exists()
    assert str(res).startswith("irisonnx.check: PASSED")

    good, _ = cnn_onnx
    x = _image(3)
    res = irisonnx.check(good, x)  # an ONNX file alone: ort-cpu is the baseline
    assert res.passed and res.baseline == "ort-cpu" and list(res.pairs) == ["reference"]

    bad = tmp_path / "bad.onnx"
    _sabotage(good, bad)
    res = irisonnx.check(bad, {"image": x}, runtimes=("torch", "ort-cpu"), module=mod.cnn())
    assert not res.passed and res.failing == ["ort-cpu"]
    text = str(res)
    assert text.startswith("irisonnx.check: FAILED") and "ort-cpu output_0: FAIL" in text and "worst at [" in text
    # Against the torch oracle computed here, the worst element's baseline value is torch's.
    want = _torch("cnn", work / "net.py", x)[0]
    w = res.pairs["ort-cpu"]["output_0"].worst
    assert w["baseline"] == pytest.approx(float(want[tuple(w["index"])]), rel=1e-6)

    with pytest.raises(DataError, match="missing 'image'"):
        irisonnx.check(good, {"pixels": x})
    with pytest.raises(UsageError, match="torch.nn.Module or an ONNX file"):
        irisonnx.check(42, x)


def test_import_irisonnx_stays_cheap() -> None:
    code = "import sys, irisonnx; assert callable(irisonnx.__getattr__); print(sorted(m for m in ('torch', 'onnx', 'onnxruntime', 'numpy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_one_onnxruntime_session_factory() -> None:
    """Every onnxruntime session irisonnx makes comes from predictor.create_session (one place
    for the no-fallback provider check, log silencing and one-line errors). edge_predict.py is
    the bundle's standalone script: it runs without irisonnx installed, so it has its own."""
    root = Path(__file__).resolve().parent.parent / "irisonnx"
    makers = sorted(str(p.relative_to(root)) for p in root.rglob("*.py") if "InferenceSession(" in p.read_text())
    assert makers == ["edge/template/predict.py", "runtimes/ort_engine.py"]
    assert (root / "runtimes" / "ort_engine.py").read_text().count("InferenceSession(") == 1


@pytest.mark.parametrize("command", ["compare", "bench", "edge"])
def test_one_run_or_model_resolver(capsys: pytest.CaptureFixture, tmp_path: Path, command: str) -> None:
    """compare, bench and edge resolve RUN_OR_MODEL through training.run.resolve_target: the same
    exit code and words for a missing path and for a folder that is not a run."""
    code, _, err = cli(capsys, command, str(tmp_path / "nowhere.onnx"))
    assert code == 2 and "no such run folder or model file" in one_error_line(err, 2) and "pass a run folder or an .onnx file" in err
    (tmp_path / "folder").mkdir()
    code, _, err = cli(capsys, command, str(tmp_path / "folder"))
    assert code == 2 and "not a run folder" in one_error_line(err, 2)
