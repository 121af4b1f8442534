"""The litert runtime: a .tflite run by ai-edge-litert, converted by litert-torch from the torch
weights (no converter environment: runs everywhere the [litert] extra is installed) or by
onnx2tf from the ONNX file (tests marked ``litert_converter``: run them with
``pytest -m litert_converter`` after ``irisonnx setup litert``; skipped without it).

Every figure is checked against something the litert code did not compute: torch eager (the
compare baseline), onnxruntime's own InferenceSession, or numpy.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ai_edge_litert")

from corpus import get_corpus  # noqa: E402
from onnx_helpers import cli, one_error_line  # noqa: E402

from irisonnx.errors import RuntimeUnavailable  # noqa: E402
from irisonnx.runtimes import RuntimeContext, create  # noqa: E402
from irisonnx.runtimes.litert import ROUTE_MODULE, ROUTE_ONNX, ROUTE_TORCH  # noqa: E402
from irisonnx.runtimes.litert_converter import converter_status, converter_versions  # noqa: E402

HAVE_CONVERTER = converter_status()[0]


def needs_converter(test):
    """Marked litert_converter (pytest -m litert_converter) and skipped without the converter."""
    return pytest.mark.litert_converter(pytest.mark.skipif(not HAVE_CONVERTER, reason="the ONNX-to-TFLite converter is not set up: irisonnx setup litert")(test))


@pytest.fixture
def no_converter(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """As on a machine without `irisonnx setup litert`: litert takes the litert-torch route."""
    monkeypatch.setenv("IRISONNX_LITERT_CONVERTER", str(tmp_path / "no-converter"))


@pytest.fixture(scope="module")
def iris_run(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from irisonnx.export.export import export_run

    run = tmp_path_factory.mktemp("litert") / "run"
    shutil.copytree(tiny_run, run)
    export_run(run, exporter="torchscript")
    return run


def _pair(doc: dict, runtime: str) -> dict:
    return next(p for p in doc["pairs"] if p["runtime"] == runtime)


def _status(doc: dict, runtime: str) -> dict:
    return next(r for r in doc["runtimes"] if r["runtime"] == runtime)


def _max_abs(pair: dict) -> float:
    return max(o["max_abs_error"] for o in pair["outputs"])


def _runtime(model: Path, run: Path | None = None, module: str | None = None):
    from irisonnx.training.module import parse_module_spec
    from irisonnx.modelfile.onnx_io import load_model_safely
    from irisonnx.training.run import Run

    info = load_model_safely(model)
    ctx = RuntimeContext(model_path=info.path, run=Run.open(run) if run else None, model_info=info, output_names=info.output_names)
    if module:
        ctx.module = parse_module_spec(module)
    return create("litert", ctx)


def _ort(model: Path, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    import onnxruntime as ort

    s = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in s.get_outputs()], s.run(None, feeds)))


# --- litert-torch: the torch weights, no converter environment ----------------------------------


def test_iris_run_compares_and_reuses_its_conversion(iris_run: Path, no_converter: None, capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip("litert_torch")
    code, out, err = cli(capsys, "compare", str(iris_run), "--runtimes", "torch,ort-cpu,litert", "--json")
    assert code == 0, err
    assert err == ""  # the converters' logging and progress bars are captured, not shown
    doc = json.loads(out)
    pair = _pair(doc, "litert")
    assert pair["passed"] and _max_abs(pair) < 1e-5  # against torch eager at the default tolerances
    info = _status(doc, "litert")["info"]
    assert info["versions"]["ai-edge-litert"] == version("ai-edge-litert")
    assert info["versions"]["litert-torch"] == version("litert-torch")
    assert info["route"] == ROUTE_TORCH and info["precision"] == "f32" and info["reused"] is False
    side = Path(info["conversion"])
    tfl = Path(info["converted_file"])
    assert side.parent == iris_run / "conversions" and side.is_file() and tfl.is_file()
    meta = json.loads(side.read_text())
    assert meta["converter"] == "litert-torch" and meta["converter_version"] == version("litert-torch")
    assert meta["sha256"] == hashlib.sha256(tfl.read_bytes()).hexdigest()

    code, out, err = cli(capsys, "compare", str(iris_run), "--runtimes", "torch,litert", "--json")
    assert code == 0, err
    again = _status(json.loads(out), "litert")["info"]
    assert again["reused"] is True and again["conversion"] == str(side)
    assert sorted(p.name for p in side.parent.iterdir()) == sorted([side.name, tfl.name])

    # The runtime on its own against onnxruntime's session: one row (the batch-1 signature) and
    # 150 rows (64-row chunks, the last one padded).
    rt = _runtime(iris_run / "model.onnx", run=iris_run)
    x = np.random.default_rng(3).uniform(0, 8, (150, 4)).astype(np.float32)
    want = _ort(iris_run / "model.onnx", {"features": x})["logits"]
    got = rt.run({"features": x})["logits"]
    one = rt.run({"features": x[:1]})["logits"]
    assert got.shape == want.shape and np.abs(got - want).max() < 1e-5
    assert one.shape == (1, 3) and np.abs(one - want[:1]).max() < 1e-5
    assert rt.info()["batch"] == 64
    with pytest.raises(NotImplementedError, match="litert cannot expose intermediate tensors"):
        rt.intermediates({"features": x[:2]})
    rt.deactivate()


def test_without_the_converter_an_explicit_model_file_is_not_what_litert_ran(iris_run: Path, tmp_path: Path, no_converter: None, capsys: pytest.CaptureFixture) -> None:
    """litert-torch converts the run's weights: --model FILE is compared by onnxruntime, and
    litert says that it did not run FILE (the converter route runs FILE: see the sabotage test)."""
    pytest.importorskip("litert_torch")
    import onnx
    from onnx import numpy_helper

    m = onnx.load(str(iris_run / "model.onnx"))
    init = next(i for i in m.graph.initializer if numpy_helper.to_array(i).ndim == 2)
    a = numpy_helper.to_array(init).copy()
    a.flat[0] += 0.5
    init.CopyFrom(numpy_helper.from_array(a, init.name))
    onnx.save(m, str(tmp_path / "edited.onnx"))
    code, out, _ = cli(capsys, "compare", str(iris_run), "--model", str(tmp_path / "edited.onnx"), "--runtimes", "torch,ort-cpu,litert", "--json")
    doc = json.loads(out)
    assert code == 1 and not _pair(doc, "ort-cpu")["passed"] and _max_abs(_pair(doc, "ort-cpu")) > 0.1
    assert _pair(doc, "litert")["passed"]  # the torch weights, converted: equal to torch
    info = _status(doc, "litert")["info"]
    assert info["route"] == ROUTE_TORCH and any(f"not {tmp_path / 'edited.onnx'}" in n for n in info["notes"])


def test_bench_times_litert(iris_run: Path, no_converter: None) -> None:
    pytest.importorskip("litert_torch")
    from irisonnx.bench import BenchSettings, run_bench

    res = run_bench(iris_run, runtimes=["ort-cpu", "litert"], settings=BenchSettings.make(quick=True, batch_sizes=(1, 100), latency_calls=50))
    b = next(r for r in res.runtimes if r.runtime == "litert")
    assert b.available and b.latency is not None and b.latency.p50_us > 0 and b.latency.calls >= 50
    assert "LiteRT interpreter threads" in b.threads and b.info["route"] == ROUTE_TORCH


def test_cnn_module_agrees_and_a_weight_change_is_converted_again(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, no_converter: None, capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip("litert_torch")
    from safetensors.torch import load_file, save_file

    src = get_corpus(tmp_path_factory, "torch")["cnn"]
    for name in ("cnn.py", "cnn.safetensors", "cnn.onnx"):
        shutil.copyfile(src.onnx.parent / name, tmp_path / name)
    model, spec = tmp_path / "cnn.onnx", f"{tmp_path / 'cnn.py'}:make_model"
    x = np.random.default_rng(5).standard_normal((70, 1, 28, 28)).astype(np.float32)  # 64 + 6 padded
    np.savez(tmp_path / "in.npz", image=x)
    args = ["compare", str(model), "--module", spec, "--inputs", str(tmp_path / "in.npz"), "--atol", "1e-4", "--rtol", "1e-4", "--json"]

    code, out, err = cli(capsys, *args, "--runtimes", "torch,ort-cpu,litert")
    assert code == 0, err
    doc = json.loads(out)
    assert _pair(doc, "litert")["passed"] and _max_abs(_pair(doc, "litert")) < 1e-4
    info = _status(doc, "litert")["info"]
    assert info["route"] == ROUTE_MODULE and not info["reused"]
    assert any("not " + str(model) in n for n in info["notes"])  # it ran the weights, not that file
    first = Path(info["converted_file"])
    first_source = json.loads(Path(info["conversion"]).read_text())["source_sha256"]
    assert first.parent == tmp_path / "cnn.conversions"

    rt = _runtime(model, module=spec)
    got = rt.run({"image": x})["logits"]
    want = _ort(model, {"image": x})["logits"]
    assert np.abs(got - want).max() < 1e-4  # litert against onnxruntime's session
    rt.deactivate()

    code, out, err = cli(capsys, *args, "--runtimes", "torch,litert")
    assert code == 0 and _status(json.loads(out), "litert")["info"]["reused"] is True

    w = load_file(str(tmp_path / "cnn.safetensors"))
    w["fc.weight"][0, 0] += 0.5
    save_file(w, str(tmp_path / "cnn.safetensors"))
    code, out, err = cli(capsys, *args, "--runtimes", "torch,litert")
    assert code == 0, err  # litert follows the new weights: converted again, still equal to torch
    doc = json.loads(out)
    info = _status(doc, "litert")["info"]
    assert info["reused"] is False and Path(info["converted_file"]) != first and not first.exists()
    assert json.loads(Path(info["conversion"]).read_text())["source_sha256"] != first_source
    rt = _runtime(model, module=spec)
    moved = rt.run({"image": x})["logits"]
    rt.deactivate()
    assert np.abs(moved - want).max() > 1e-3  # not the stale conversion: differs from the old weights' ONNX

    # Same weights, edited forward code: converted again too.
    py = tmp_path / "cnn.py"
    py.write_text(py.read_text().replace("return self.fc(", "return 2.0 * self.fc("))
    code, out, err = cli(capsys, *args, "--runtimes", "torch,litert")
    assert code == 0, err
    info = _status(json.loads(out), "litert")["info"]
    assert info["reused"] is False
    rt = _runtime(model, module=spec)
    doubled = rt.run({"image": x})["logits"]
    rt.deactivate()
    assert np.abs(doubled - 2.0 * moved).max() < 1e-4


def test_missing_package_message(iris_run: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ai_edge_litert" else real(name, *a))
    rt = _runtime(iris_run / "model.onnx", run=iris_run)
    assert rt.is_available() == (False, "ai-edge-litert is not installed: pip install 'irisonnx[litert]'")
    code, _, err = cli(capsys, "compare", str(iris_run), "--runtimes", "torch,litert")
    assert code == 4
    assert "pip install 'irisonnx[litert]'" in one_error_line(err)


def test_missing_converter_message(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, no_converter: None, capsys: pytest.CaptureFixture) -> None:
    model = get_corpus(tmp_path_factory, "torch")["cnn"].onnx  # a bare ONNX file: no torch weights
    rt = _runtime(model)
    assert rt.is_available() == (False, "the ONNX-to-TFLite converter is not set up: irisonnx setup litert")
    code, _, err = cli(capsys, "compare", str(model), "--runtimes", "ort-cpu,litert")
    assert code == 4 and "irisonnx setup litert" in one_error_line(err)
    # One made by another irisonnx (other pins) is not used either.
    fake = tmp_path / "old-converter"
    (fake / "bin").mkdir(parents=True)
    (fake / "bin" / "python").write_text("")
    (fake / ".irisonnx-converter.json").write_text(json.dumps({"format": "irisonnx-litert-converter/1", "pins": ["onnx2tf==1.0.0"], "versions": {}}))
    ok, why = converter_status(fake)
    assert not ok and "set up by another irisonnx version: irisonnx setup litert" in why


def test_failed_setup_leaves_nothing_and_keeps_the_old_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from irisonnx.runtimes import litert_converter

    dest = tmp_path / "cache" / "litert-converter"
    dest.mkdir(parents=True)
    (dest / "keep.txt").write_text("the previous environment")
    monkeypatch.setattr(litert_converter, "PINS", ("irisonnx-no-such-package==0.0.0",))
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path))
    with pytest.raises(RuntimeUnavailable, match="cannot set up the ONNX-to-TFLite converter") as exc:
        litert_converter.setup_litert(dest, python=sys.executable)
    assert "pip install failed" in exc.value.why
    assert sorted(p.name for p in dest.parent.iterdir()) == ["litert-converter"]  # no temporary folder left
    assert (dest / "keep.txt").read_text() == "the previous environment"


# --- onnx2tf: the ONNX file itself (irisonnx setup litert) ---------------------------------------


def _two_output_model(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """x [N,4] -> Gemm -> zeta = Softmax, alpha = 2*y + 1: outputs whose names sort the other way."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(11)
    w = rng.standard_normal((4, 3)).astype(np.float32)
    b = rng.standard_normal(3).astype(np.float32)
    nodes = [
        helper.make_node("Gemm", ["x", "w", "b"], ["y"]),
        helper.make_node("Softmax", ["y"], ["zeta"], axis=1),
        helper.make_node("Mul", ["y", "two"], ["y2"]),
        helper.make_node("Add", ["y2", "one"], ["alpha"]),
    ]
    inits = [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b"), numpy_helper.from_array(np.array(2, np.float32), "two"), numpy_helper.from_array(np.array(1, np.float32), "one")]
    g = helper.make_graph(nodes, "two", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])], [helper.make_tensor_value_info("zeta", TensorProto.FLOAT, ["N", 3]), helper.make_tensor_value_info("alpha", TensorProto.FLOAT, ["N", 3])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(m)
    onnx.save(m, str(path))
    return w, b


@needs_converter
def test_onnx2tf_bare_models(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture) -> None:
    # The CNN, NCHW kept: against onnxruntime.
    shutil.copyfile(get_corpus(tmp_path_factory, "torch")["cnn"].onnx, tmp_path / "cnn.onnx")
    x = np.random.default_rng(5).standard_normal((70, 1, 28, 28)).astype(np.float32)
    np.savez(tmp_path / "cnn.npz", image=x)
    code, out, err = cli(capsys, "compare", str(tmp_path / "cnn.onnx"), "--runtimes", "ort-cpu,litert", "--inputs", str(tmp_path / "cnn.npz"), "--atol", "1e-4", "--rtol", "1e-4", "--json")
    assert code == 0, err
    assert err == ""
    doc = json.loads(out)
    assert _pair(doc, "litert")["passed"] and _max_abs(_pair(doc, "litert")) < 1e-4
    info = _status(doc, "litert")["info"]
    assert info["route"] == ROUTE_ONNX and info["versions"]["onnx2tf"] == converter_versions()["onnx2tf"] == "1.29.24"
    assert info["batch"] == "dynamic" and Path(info["conversion"]).parent == tmp_path / "cnn.conversions"
    assert json.loads(Path(info["conversion"]).read_text())["source_sha256"] == hashlib.sha256((tmp_path / "cnn.onnx").read_bytes()).hexdigest()

    # Two outputs, named so that any sorting or renaming would swap them: against numpy.
    w, b = _two_output_model(tmp_path / "two.onnx")
    rt = _runtime(tmp_path / "two.onnx")
    xs = np.random.default_rng(2).standard_normal((33, 4)).astype(np.float32)
    got = rt.run({"x": xs})
    y = xs.astype(np.float64) @ w + b
    e = np.exp(y - y.max(1, keepdims=True))
    assert sorted(got) == ["alpha", "zeta"]
    assert np.abs(got["alpha"] - (2 * y + 1)).max() < 1e-5
    assert np.abs(got["zeta"] - e / e.sum(1, keepdims=True)).max() < 1e-6
    assert rt.run({"x": xs[:1]})["alpha"].shape == (1, 3)  # resized to one row
    rt.deactivate()


@needs_converter
def test_onnx2tf_unsupported_op_is_skipped(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """skl2onnx's MLPClassifier looks its labels up with ArrayFeatureExtractor (ai.onnx.ml),
    which onnx2tf lacks: litert is skipped naming the op, the others are still compared."""
    pytest.importorskip("skl2onnx")
    from skl2onnx import to_onnx
    from sklearn.datasets import load_iris
    from sklearn.neural_network import MLPClassifier

    X, y = load_iris(return_X_y=True)
    X = X.astype(np.float32)
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=50, random_state=0)
    with pytest.warns(Warning):
        clf.fit(X, y)
    (tmp_path / "mlp.onnx").write_bytes(to_onnx(clf, X[:1], options={"zipmap": False}, target_opset={"": 17, "ai.onnx.ml": 3}).SerializeToString())
    np.savez(tmp_path / "x.npz", X=X)
    code, out, err = cli(capsys, "compare", str(tmp_path / "mlp.onnx"), "--runtimes", "ort-cpu,reference,litert", "--inputs", str(tmp_path / "x.npz"), "--json")
    assert code == 0, err
    doc = json.loads(out)
    st = _status(doc, "litert")
    assert st["available"] is False and "unsupported: ArrayFeatureExtractor" in st["reason"]
    assert [p["runtime"] for p in doc["pairs"]] == ["reference"]
    assert not list((tmp_path / "mlp.conversions").glob("*.tflite"))  # nothing half-made kept


@needs_converter
def test_onnx2tf_sabotage_is_not_hidden(iris_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import onnx
    from onnx import numpy_helper

    run = tmp_path / "run"
    shutil.copytree(iris_run, run)
    code, out, err = cli(capsys, "compare", str(run), "--runtimes", "torch,ort-cpu,litert", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert _status(doc, "litert")["info"]["route"] == ROUTE_ONNX and _max_abs(_pair(doc, "litert")) < 1e-5

    m = onnx.load(str(run / "model.onnx"))
    init = next(i for i in m.graph.initializer if numpy_helper.to_array(i).ndim == 2)
    a = numpy_helper.to_array(init).copy()
    a.flat[0] += 0.5
    init.CopyFrom(numpy_helper.from_array(a, init.name))
    onnx.save(m, str(tmp_path / "edited.onnx"))
    code, out, err = cli(capsys, "compare", str(run), "--model", str(tmp_path / "edited.onnx"), "--runtimes", "torch,ort-cpu,litert", "--json")
    assert code == 1
    doc = json.loads(out)
    lit, ort = _pair(doc, "litert"), _pair(doc, "ort-cpu")
    assert not lit["passed"] and _max_abs(lit) > 0.1
    assert abs(_max_abs(lit) - _max_abs(ort)) < 1e-4  # litert ran the edited file, as onnxruntime did
    assert _status(doc, "litert")["info"]["reused"] is False
