"""The ExecuTorch runtime (issue 17): a run's MLP and a --module CNN exported to .pte and run
by ExecuTorch's C++ runtime, checked against torch eager and a plain onnxruntime session (never
against irisonnx's own numbers); the .pte as an artifact (sidecar, reuse, re-conversion when
the weights change); the op ExecuTorch lacks, the fixed-batch fallback and the missing package.

Conversions are the slow part (XNNPACK lowering takes seconds on a busy machine): each test
converts only what it checks, and the portable route where the delegate does not matter."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("executorch")

import onnxruntime as ort  # noqa: E402

from corpus import get_corpus  # noqa: E402
from onnx_helpers import cli, copy_run, exported_run, one_error_line, torch_logits  # noqa: E402

ATOL = 1e-4  # the brief's bound for the CNN; measured 7e-7 against torch


def _compare(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, dict, str]:
    rc, out, err = cli(capsys, "compare", *argv, "--json", "-q")
    return rc, (json.loads(out) if out.strip() else {}), err


def _saved(g: Path, runtime: str, output: str) -> np.ndarray:
    idx = json.loads((g / "index.json").read_text())
    entries = idx["runtimes"][runtime]["outputs"][output]
    return np.concatenate([np.load(g / e["file"]) for e in entries])


def _runtime(spec: str, onnx: Path, module: str):
    from irisonnx.training.module import parse_module_spec
    from irisonnx.modelfile.onnx_io import load_model_safely
    from irisonnx.runtimes import RuntimeContext, create

    info = load_model_safely(onnx)
    ctx = RuntimeContext(model_path=info.path, model_info=info, output_names=info.output_names, module=parse_module_spec(module))
    return create(spec, ctx)


def _eager(module: str, **feeds: np.ndarray) -> list[np.ndarray]:
    """The module's own forward in torch (the oracle), imported apart from irisonnx."""
    import torch

    path, _, factory = module.rpartition(":")
    spec = importlib.util.spec_from_file_location(f"oracle_{Path(path).stem}_{abs(hash(path))}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    model = getattr(mod, factory)().eval()
    with torch.no_grad():
        out = model(*[torch.from_numpy(v) for v in feeds.values()])
    return [t.numpy() for t in (out if isinstance(out, (tuple, list)) else [out])]


def _ort(onnx: Path, **feeds: np.ndarray) -> list[np.ndarray]:
    s = ort.InferenceSession(str(onnx), providers=["CPUExecutionProvider"])
    return s.run(None, feeds)


@pytest.fixture(scope="module")
def iris_run(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the session's run exported with logits, probabilities and label (conversions
    are written under the run: the shared one stays as it is)."""
    return copy_run(exported_run(tmp_path_factory, tiny_run, "dynamo", True, True)[0], tmp_path_factory.mktemp("et") / "iris")


@pytest.fixture(scope="module")
def torch_corpus(tmp_path_factory: pytest.TempPathFactory):
    return get_corpus(tmp_path_factory, "torch")


def test_iris_run_executorch_matches_torch_and_onnxruntime(iris_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    g = tmp_path / "g"
    rc, doc, err = _compare(capsys, str(iris_run), "--runtimes", "torch,ort-cpu,executorch,executorch:portable", "--save-io", str(g))
    assert rc == 0 and doc["passed"], err
    assert err == ""  # the exporter's and ExecuTorch's own chatter stays off stderr
    info = {r["runtime"]: r["info"] for r in doc["runtimes"]}
    assert info["executorch"]["versions"]["executorch"] == importlib.metadata.version("executorch")
    assert info["executorch"]["versions"]["torch"].startswith(importlib.metadata.version("torch").split("+")[0])
    assert info["executorch"]["route"] == "torch.export + XNNPACK" and info["executorch:portable"]["route"] == "torch.export (portable)"
    assert info["executorch"]["precision"] == "f32"
    side = Path(info["executorch"]["conversion"])
    assert side.is_file() and side.parent == iris_run / "conversions"
    sess = ort.InferenceSession(str(iris_run / "model.onnx"), providers=["CPUExecutionProvider"])
    (inp,) = sess.get_inputs()
    x = np.load(g / f"input.{inp.name}.npy")
    want = torch_logits(iris_run, x)
    plain = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {inp.name: x})))
    assert set(plain) == {"logits", "probabilities", "label"}
    for rt in ("executorch", "executorch:portable"):
        got = _saved(g, rt, "logits")
        assert got.shape == want.shape == (30, 3)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5, err_msg=rt)  # the default tolerances, against torch eager
        np.testing.assert_allclose(got, plain["logits"], rtol=1e-5, atol=1e-5, err_msg=rt)  # and against onnxruntime itself
        np.testing.assert_allclose(_saved(g, rt, "probabilities"), plain["probabilities"], rtol=1e-5, atol=1e-6, err_msg=rt)
        np.testing.assert_array_equal(_saved(g, rt, "label"), plain["label"])


def test_cnn_module_chunks_past_the_declared_maximum_and_runs_batch_one(torch_corpus) -> None:
    from irisonnx.runtimes.executorch import MAX_BATCH

    m = torch_corpus["cnn"]
    rt = _runtime("executorch", m.onnx, m.module)
    assert rt.is_available() == (True, "")
    rng = np.random.default_rng(3)
    try:
        for n in (2 * MAX_BATCH + 22, 1, 16):  # 150 rows: three calls; 16: where an unbounded batch failed
            image = rng.standard_normal((n, 1, 28, 28)).astype(np.float32)
            got = rt.run({"image": image})["logits"]
            (want,) = _eager(m.module, image=image)
            assert got.shape == (n, 10)
            assert float(np.abs(got - want).max()) < ATOL, n
            (plain,) = _ort(m.onnx, image=image)
            assert float(np.abs(got - plain).max()) < ATOL, n
        info = rt.info()
        assert info["max_batch"] == MAX_BATCH and "dynamic" in info["batch"]
    finally:
        rt.deactivate()
    with pytest.raises(NotImplementedError, match="cannot expose intermediate tensors"):
        rt.intermediates({"image": image})


def test_pte_is_an_artifact_reused_then_reconverted_when_the_weights_or_code_change(torch_corpus, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from safetensors.numpy import load_file, save_file

    src = torch_corpus["cnn"]
    for f in ("cnn.py", "cnn.safetensors", "cnn.onnx"):
        shutil.copy(src.onnx.parent / f, tmp_path / f)
    module, onnx = f"{tmp_path / 'cnn.py'}:make_model", tmp_path / "cnn.onnx"
    image = np.random.default_rng(5).standard_normal((5, 1, 28, 28)).astype(np.float32)
    np.savez(tmp_path / "in.npz", image=image)
    args = (str(onnx), "--module", module, "--runtimes", "torch,executorch:portable", "--inputs", str(tmp_path / "in.npz"))

    rc, doc, err = _compare(capsys, *args)
    assert rc == 0 and doc["passed"], err
    first = doc["runtimes"][1]["info"]
    assert first["reused"] is False
    side = Path(first["conversion"])
    pte = side.with_name(side.name[: -len(".json")])
    assert side.parent == tmp_path / "cnn.conversions" and pte.is_file()
    meta = json.loads(side.read_text())
    assert meta["converter"] == "executorch" and meta["converter_version"] == importlib.metadata.version("executorch")
    assert meta["options"]["backend"] == "portable" and meta["options"]["max_batch"] == 64
    import hashlib

    assert meta["sha256"] == hashlib.sha256(pte.read_bytes()).hexdigest()

    rc, doc, err = _compare(capsys, *args)
    assert rc == 0 and doc["runtimes"][1]["info"]["reused"] is True and doc["runtimes"][1]["info"]["conversion"] == str(side)

    w = load_file(str(tmp_path / "cnn.safetensors"))
    w["fc.bias"] = w["fc.bias"] + np.float32(0.5)  # the module changed: the old .pte must not be used
    save_file(w, str(tmp_path / "cnn.safetensors"))
    g = tmp_path / "g"
    rc, doc, err = _compare(capsys, *args, "--save-io", str(g))
    assert rc == 0 and doc["passed"], err
    again = doc["runtimes"][1]["info"]
    assert again["reused"] is False and again["conversion"] != str(side) and not pte.exists()
    (want,) = _eager(module, image=image)  # the new weights, in torch
    got = _saved(g, "executorch:portable", "logits")
    assert float(np.abs(got - want).max()) < ATOL
    (old,) = _ort(onnx, image=image)  # the ONNX file still has the old bias: 0.5 away
    assert np.allclose(got - old, 0.5, atol=1e-4)

    code = (tmp_path / "cnn.py").read_text()  # same weights, other code: converted again too
    assert "        return self.fc(" in code
    (tmp_path / "cnn.py").write_text(code.replace("        return self.fc(", "        return 2.0 * self.fc("))
    g2 = tmp_path / "g2"
    rc, doc, err = _compare(capsys, *args, "--save-io", str(g2))
    assert rc == 0 and doc["passed"] and doc["runtimes"][1]["info"]["reused"] is False, err
    np.testing.assert_allclose(_saved(g2, "executorch:portable", "logits"), 2.0 * want, rtol=1e-5, atol=2e-4)


_ERFINV_PY = '''
import torch
from torch import nn


class Erf(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 0.0 * torch.special.erfinv(torch.tanh(x) * 0.5)


class FixedBatch(nn.Module):
    """Doubles x; the batch test makes torch.export fix the batch at its example size."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] == 16:
            return x * 2.0
        return x * 2.0


def erf():
    return Erf().eval()


def fixed():
    return FixedBatch().eval()
'''


def _elementwise_onnx(path: Path, op: str) -> Path:
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])
    two = helper.make_tensor("two", TensorProto.FLOAT, [], [2.0])
    nodes = [helper.make_node("Identity", ["x"], ["y"])] if op == "identity" else [helper.make_node("Mul", ["x", "two"], ["y"])]
    g = helper.make_graph(nodes, "g", [x], [y], [two] if op != "identity" else [])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(path))
    return path


def test_an_op_executorch_lacks_is_skipped_naming_it_and_the_others_compared(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "mods.py").write_text(_ERFINV_PY)
    onnx = _elementwise_onnx(tmp_path / "ident.onnx", "identity")
    rc, doc, err = _compare(capsys, str(onnx), "--module", f"{tmp_path / 'mods.py'}:erf", "--runtimes", "torch,ort-cpu,executorch:portable", "--inputs", "random:20")
    assert rc == 0 and doc["passed"], err  # never exit 70, never exit 4 for a named runtime that cannot take this model
    st = {r["runtime"]: r for r in doc["runtimes"]}
    assert st["executorch:portable"]["available"] is False
    assert "unsupported: aten.erfinv.default" in st["executorch:portable"]["reason"]
    assert [p["runtime"] for p in doc["pairs"]] == ["ort-cpu"]


def test_a_batch_torch_export_fixes_is_padded_and_the_padding_dropped(tmp_path: Path) -> None:
    from irisonnx.runtimes.executorch import EXAMPLE_BATCH

    (tmp_path / "mods.py").write_text(_ERFINV_PY)
    onnx = _elementwise_onnx(tmp_path / "double.onnx", "double")
    rt = _runtime("executorch:portable", onnx, f"{tmp_path / 'mods.py'}:fixed")
    x = np.random.default_rng(9).standard_normal((2 * EXAMPLE_BATCH + 5, 4)).astype(np.float32)
    try:
        for n in (x.shape[0], 1):
            got = rt.run({"x": x[:n]})["y"]
            (plain,) = _ort(onnx, x=x[:n])
            assert got.shape == (n, 4)
            np.testing.assert_array_equal(got, plain)  # x * 2 is exact in both
        assert rt.info()["batch"] == f"fixed {EXAMPLE_BATCH}, padded"
    finally:
        rt.deactivate()


def test_unavailable_without_the_module_or_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    from irisonnx.errors import UsageError
    from irisonnx.modelfile.onnx_io import load_model_safely
    from irisonnx.runtimes import RuntimeContext, create

    onnx = _elementwise_onnx(tmp_path / "double.onnx", "double")
    info = load_model_safely(onnx)
    ok, why = create("executorch", RuntimeContext(model_path=info.path, model_info=info)).is_available()
    assert not ok and why.startswith("needs the torch module: a run folder or --module FILE.py:FACTORY")
    rc, _, err = cli(capsys, "compare", str(onnx), "--runtimes", "ort-cpu,executorch")
    assert rc == 4 and "needs the torch module" in one_error_line(err)

    (tmp_path / "mods.py").write_text(_ERFINV_PY)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a, **k: None if name == "executorch" else real(name, *a, **k))
    rc, _, err = cli(capsys, "compare", str(onnx), "--module", f"{tmp_path / 'mods.py'}:fixed", "--runtimes", "ort-cpu,executorch")
    assert rc == 4
    assert "executorch is not installed: pip install 'irisonnx[executorch]'" in one_error_line(err)
    with pytest.raises(UsageError, match="unknown executorch option"):
        create("executorch:fast", RuntimeContext(model_path=info.path, model_info=info)).is_available()
