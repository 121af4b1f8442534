"""The OpenVINO edge variants: openvino-fp32 (IR, float32 weights) and openvino-int8 (NNCF,
calibrated like int8-static) pass their gates on the Iris run and a small CNN, the bundle's
predict.py runs them with only openvino and numpy importable, a tampered .bin is refused, a
missing package is a skip that names the command. Oracles: plain onnxruntime sessions on the
source model and OpenVINO's own API on the bundle's files, never irisonnx's runners."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto as T
from onnx import helper, numpy_helper

ov = pytest.importorskip("openvino")
pytest.importorskip("nncf")

from conftest import run_cli  # noqa: E402
from irisonnx.edge.build import build_edge  # noqa: E402

VARIANTS = "fp32,openvino-fp32,openvino-int8"
# predict.py with everything but the standard library, numpy and openvino unimportable.
ONLY_OPENVINO = "import runpy, sys\nfor m in ('onnxruntime', 'onnx', 'torch', 'irisonnx', 'click', 'nncf'):\n    sys.modules[m] = None\nsys.argv = sys.argv[1:]\nrunpy.run_path(sys.argv[0], run_name='__main__')\n"


@pytest.fixture(scope="module")
def bundle(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    from irisonnx.export.export import export_run

    run = tmp_path_factory.mktemp("ovedge") / "run"
    shutil.copytree(tiny_run, run)
    export_run(run, exporter="torchscript")
    r = run_cli("edge", str(run), "--variants", VARIANTS, "--bench-rounds", "1", "--json")
    assert r.returncode == 0, r.stderr
    return run, json.loads(r.stdout)


def _test_rows(run: Path) -> np.ndarray:
    from irisonnx.training.run import Run

    ds = Run.open(run).dataset()
    return np.ascontiguousarray(ds.features[ds.test_idx], dtype=np.float32)


def _ov(xml: Path, feeds: dict) -> list[np.ndarray]:
    core = ov.Core()
    compiled = core.compile_model(core.read_model(str(xml), str(xml.with_suffix(".bin"))), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    res = compiled.create_infer_request().infer(feeds)
    return [np.asarray(res[i]) for i in range(len(compiled.outputs))]


def test_iris_bundle_passes_its_gates_with_figures_openvino_confirms(bundle: tuple[Path, dict]) -> None:
    run, doc = bundle
    edge = run / "edge"
    man = json.loads((edge / "manifest.json").read_text())
    recs = {v["variant"]: v for v in man["variants"]}
    assert list(recs) == ["fp32", "openvino-fp32", "openvino-int8"]
    assert all(c["passed"] for v in recs.values() for c in v["checks"])
    for name in ("openvino-fp32", "openvino-int8"):
        rec = recs[name]
        assert rec["family"] == "openvino" and rec["file"] == f"model.{name}.xml"
        assert rec["settings"]["openvino"] == importlib.metadata.version("openvino")
        for f in (f"model.{name}.xml", f"model.{name}.bin"):  # both files listed, hashed, validated
            entry = man["files"][f]
            assert entry["variant"] == name and entry["validated"]
            assert entry["sha256"] == __import__("hashlib").sha256((edge / f).read_bytes()).hexdigest()
    assert recs["openvino-int8"]["settings"]["nncf"] == importlib.metadata.version("nncf")
    # The figures, again with plain onnxruntime on the source and OpenVINO on the bundle's IR.
    x = _test_rows(run)
    sess = ort.InferenceSession(str(run / "model.onnx"), providers=["CPUExecutionProvider"])
    want = sess.run(None, {"features": x})[0]
    (fp32,) = _ov(edge / "model.openvino-fp32.xml", {"features": x})
    assert float(np.abs(fp32 - want).max()) < 1e-5
    assert recs["openvino-fp32"]["figures"]["max_abs_error"] == pytest.approx(float(np.abs(fp32 - want).max()), abs=1e-6)
    (int8,) = _ov(edge / "model.openvino-int8.xml", {"features": x})
    ops = {op.get_type_name() for op in ov.Core().read_model(str(edge / "model.openvino-int8.xml")).get_ops()}
    assert "FakeQuantize" in ops  # really quantised
    agree = float((int8.argmax(1) == want.argmax(1)).mean())
    assert agree >= 0.97 and recs["openvino-int8"]["figures"]["argmax_agreement"] == pytest.approx(agree)
    assert 1e-4 < float(np.abs(int8 - want).max()) < 1.0  # int8, not a copy of fp32
    text = run_cli("edge", str(run), "--out", str(run / "edge2"), "--variants", "fp32,openvino-fp32", "--bench-rounds", "0")
    assert text.returncode == 0, text.stderr
    assert "elements beyond atol 1e-05 + rtol 1e-05 * |fp32|, test split: 0" in text.stdout


def _predict(bundle_dir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", ONLY_OPENVINO, str(bundle_dir / "predict.py"), *args], capture_output=True, text=True, timeout=120)


def test_predict_py_runs_openvino_variants_with_only_openvino_and_numpy(bundle: tuple[Path, dict], tmp_path: Path) -> None:
    run, _ = bundle
    edge = run / "edge"
    x = _test_rows(run)
    want = ort.InferenceSession(str(run / "model.onnx"), providers=["CPUExecutionProvider"]).run(None, {"features": x})[0].argmax(1)
    np.savez(tmp_path / "rows.npz", features=x)
    man = json.loads((edge / "manifest.json").read_text())
    labels = {}
    for variant in ("openvino-fp32", "openvino-int8"):
        r = _predict(edge, "--input", str(tmp_path / "rows.npz"), "--variant", variant, "--json")
        assert r.returncode == 0, r.stderr
        doc = json.loads(r.stdout)
        assert doc["openvino"] == ov.__version__.split("-")[0] and doc["model"] == f"model.{variant}.xml"
        labels[variant] = np.array([p["label"] for p in doc["predictions"]])
    np.testing.assert_array_equal(labels["openvino-fp32"], want)  # the fp32 labels, exactly
    gate = next(v for v in man["variants"] if v["variant"] == "openvino-int8")["figures"]["argmax_agreement"]
    assert float((labels["openvino-int8"] == want).mean()) == pytest.approx(gate)
    # the onnxruntime variant in the same interpreter: onnxruntime is missing, exit 4 naming it
    r = _predict(edge, "--values", "6.7,3.0,5.2,2.3", "--variant", "fp32")
    assert r.returncode == 4 and "onnxruntime is not installed" in r.stderr


def test_a_tampered_weights_file_is_refused(bundle: tuple[Path, dict], tmp_path: Path) -> None:
    run, _ = bundle
    copy = tmp_path / "edge"
    shutil.copytree(run / "edge", copy)
    b = copy / "model.openvino-fp32.bin"
    data = bytearray(b.read_bytes())
    data[0] ^= 0x40
    b.write_bytes(bytes(data))
    r = _predict(copy, "--values", "6.7,3.0,5.2,2.3", "--variant", "openvino-fp32")
    assert r.returncode == 3 and "model.openvino-fp32.bin is corrupt or was modified" in r.stderr
    r = _predict(copy, "--values", "6.7,3.0,5.2,2.3", "--variant", "openvino-int8")
    assert r.returncode == 0, r.stderr  # the other variant's files are intact


def test_missing_packages_skip_with_the_enabling_command(bundle: tuple[Path, dict], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run, _ = bundle
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "nncf" else real(name, *a))
    res = build_edge(run, tmp_path / "b", "fp32,openvino-fp32,openvino-int8", bench_rounds=0)
    assert [v.variant for v in res.variants] == ["fp32", "openvino-fp32"] and res.passed
    assert res.skipped == [{"variant": "openvino-int8", "reason": "nncf is not installed: pip install 'irisonnx[openvino]'"}]


def _cnn(path: Path) -> Path:
    """Conv -> Relu -> MaxPool -> Flatten -> Gemm, image [N,1,8,8] -> logits [N,4] (onnx.helper)."""
    rng = np.random.default_rng(5)
    w = rng.standard_normal((3, 1, 3, 3)).astype(np.float32) * 0.5
    b = rng.standard_normal(3).astype(np.float32) * 0.1
    fw = rng.standard_normal((4, 48)).astype(np.float32) * 0.2
    fb = rng.standard_normal(4).astype(np.float32) * 0.1
    nodes = [
        helper.make_node("Conv", ["image", "W", "B"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p"], ["f"], axis=1),
        helper.make_node("Gemm", ["f", "FW", "FB"], ["logits"], transB=1),
    ]
    g = helper.make_graph(nodes, "cnn", [helper.make_tensor_value_info("image", T.FLOAT, ["N", 1, 8, 8])], [helper.make_tensor_value_info("logits", T.FLOAT, ["N", 4])], [numpy_helper.from_array(a, n) for a, n in ((w, "W"), (b, "B"), (fw, "FW"), (fb, "FB"))])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.checker.check_model(m, full_check=True)
    onnx.save(m, str(path))
    return path


def test_cnn_variants_pass_tolerance_gates_and_predict_npz_matches_onnxruntime(tmp_path: Path) -> None:
    model = _cnn(tmp_path / "cnn.onnx")
    res = build_edge(model, tmp_path / "b", VARIANTS, n_random=32, bench_rounds=0, input_ranges={"image": (0.0, 1.0)})
    assert res.passed and [v.variant for v in res.variants] == VARIANTS.split(",")
    x = np.random.default_rng(0).uniform(0, 1, (16, 1, 8, 8)).astype(np.float32)
    want = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"]).run(None, {"image": x})[0]
    np.savez(tmp_path / "in.npz", image=x)
    gate = next(v for v in res.variants if v.variant == "openvino-int8").summary["max_abs_error"]
    assert 0 < gate < 0.05
    for variant, atol in (("openvino-fp32", 1e-5), ("openvino-int8", 0.05 + 0.05 * float(np.abs(want).max()))):
        r = _predict(tmp_path / "b", "--input", str(tmp_path / "in.npz"), "--output", str(tmp_path / f"{variant}.npz"), "--variant", variant)
        assert r.returncode == 0, r.stderr
        got = np.load(tmp_path / f"{variant}.npz")["logits"]
        assert got.shape == want.shape and float(np.abs(got - want).max()) <= atol, variant


def test_bench_times_openvino_variants_and_refuses_a_modified_bin(bundle: tuple[Path, dict], tmp_path: Path) -> None:
    from irisonnx.bench import BenchSettings, run_bench
    from irisonnx.errors import ArtifactError

    run, _ = bundle
    settings = BenchSettings.make(quick=True, batch_sizes=(1, 256), repeats=1, warmup=1, latency_calls=20)
    b = run_bench(run, runtimes=["ort-cpu"], variants=["openvino-fp32", "openvino-int8"], settings=settings)
    by = {x.runtime: x for x in b.runtimes}
    for name in ("openvino-fp32", "openvino-int8"):
        x = by[f"edge:{name}"]
        assert x.available and x.latency.p50_us > 0 and x.info["route"] == f"OpenVINO IR model.{name}.xml" and x.info["precision"] == "f32"
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    b = copy / "edge" / "model.openvino-int8.bin"
    data = bytearray(b.read_bytes())
    data[-1] ^= 0x01
    b.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="edge variant openvino-int8 is missing or was modified"):
        run_bench(copy, runtimes=["ort-cpu"], variants=["openvino-int8"], settings=settings)
