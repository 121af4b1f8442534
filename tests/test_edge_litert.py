"""The LiteRT edge variants: litert-fp32, litert-fp16, litert-int8 (one file each under
edge/variants/), gated like the others, and the bundle's predict.py running them with only
ai-edge-litert and numpy. Without the ONNX-to-TFLite converter they are made from the run's
torch weights (litert-torch), which is what CI runs; ``pytest -m litert_converter`` adds the
onnx2tf route on a model that is not a classifier.

Figures are checked against what the litert code did not compute: onnxruntime on the
exported model, the dataset's labels, and irisonnx predict."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ai_edge_litert")
pytest.importorskip("litert_torch")
pytest.importorskip("ai_edge_quantizer")

from conftest import IRIS_CSV, run_cli  # noqa: E402

from irisonnx.edge.build import Gates, build_edge  # noqa: E402
from irisonnx.runtimes.litert_converter import converter_status  # noqa: E402

LITERT = ["litert-fp32", "litert-fp16", "litert-int8"]


@pytest.fixture
def no_converter(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("IRISONNX_LITERT_CONVERTER", str(tmp_path / "no-converter"))


@pytest.fixture(scope="module")
def iris_run(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from irisonnx.export.export import export_run

    run = tmp_path_factory.mktemp("edge-litert") / "run"
    shutil.copytree(tiny_run, run)
    export_run(run, exporter="torchscript")
    return run


@pytest.fixture(scope="module")
def built(iris_run: Path, tmp_path_factory: pytest.TempPathFactory):
    mp = pytest.MonkeyPatch()
    mp.setenv("IRISONNX_LITERT_CONVERTER", str(tmp_path_factory.mktemp("none") / "no-converter"))
    try:
        res = build_edge(iris_run, variants=["fp32", *LITERT], bench_rounds=0)
    finally:
        mp.undo()
    return res, iris_run / "edge"


def test_litert_variants_pass_their_gates_and_are_in_the_manifest(built, iris_run: Path, iris) -> None:
    import onnxruntime as ort

    res, bundle = built
    assert res.passed and res.written, [c.describe() for v in res.failed for c in v.failed_checks]
    assert [v.variant for v in res.variants] == ["fp32", *LITERT]
    manifest = json.loads((bundle / "manifest.json").read_text())
    entries = {v["variant"]: v for v in manifest["variants"]}
    x = iris.features[iris.test_idx].astype(np.float32)
    sess = ort.InferenceSession(str(iris_run / "model.onnx"), providers=["CPUExecutionProvider"])
    want = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    for name in LITERT:
        e = entries[name]
        f = bundle / f"model.{name}.tflite"
        assert e["family"] == "litert" and e["file"] == f.name
        assert manifest["files"][f.name]["sha256"] == hashlib.sha256(f.read_bytes()).hexdigest()
        assert e["settings"]["tool"] == "litert-torch from the run's torch weights"
        assert e["settings"]["versions"]["ai-edge-litert"]
        assert e["figures"]["argmax_agreement"] >= 0.97 and e["figures"]["accuracy"] >= e["figures"]["fp32_accuracy"] - 0.02
        # the variant itself, run here, against onnxruntime on the exported model
        from irisonnx.runtimes.litert import TFLiteModel

        got = TFLiteModel(f, ["features"], ["logits"]).run({"features": x})["logits"]
        assert (got.argmax(1) == want.argmax(1)).mean() >= 0.97
        bound = {"litert-fp32": 1e-5, "litert-fp16": 1e-2, "litert-int8": 0.5}[name]
        assert np.abs(got - want).max() < bound, name
    fp32 = next(v for v in res.variants if v.variant == "litert-fp32")
    assert [c.name for c in fp32.checks] == ["elements outside atol 1e-05 + rtol 1e-05 x |fp32|, test split", "argmax agreement, test split"]  # compare's rule, test and random rows
    assert fp32.checks[0].value == 0 and fp32.checks[1].value == 1.0
    assert entries["litert-int8"]["settings"]["calibration"] == f"{len(iris.train_idx)} rows"  # int8-static's rows


def test_litert_int8_is_gated_on_its_calibration(iris_run: Path, tmp_path: Path, no_converter: None) -> None:
    """Calibrated on rows of zeros (far below every Iris feature), the activation ranges miss
    the real rows: the gate fails and the bundle is not written (the float32 conversion is
    reused, not made again)."""
    res = build_edge(iris_run, tmp_path / "edge", variants=["fp32", "litert-int8"], bench_rounds=0, calibration_rows=np.zeros((8, 4), np.float32), gates=Gates())
    v = next(r for r in res.variants if r.variant == "litert-int8")
    assert not v.passed and not res.written
    assert v.summary["argmax_agreement"] < 0.97


def _litert_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import numpy

    from irisonnx.runtimes.litert import _version

    venv = tmp_path_factory.mktemp("litert-venv") / "v"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, capture_output=True, timeout=300)
    py = venv / "bin" / "python"
    pins = [f"ai-edge-litert=={_version('ai-edge-litert')}", f"numpy=={numpy.__version__}"]
    r = subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--disable-pip-version-check", "-q", *pins], capture_output=True, text=True, timeout=900)
    if r.returncode != 0:
        tail = (r.stderr or r.stdout).strip().splitlines()[-1:] or ["no output"]
        pytest.skip(f"pip could not install {' '.join(pins)} into a fresh venv: {tail[0]}")
    return py


@pytest.mark.slow
def test_predict_py_runs_litert_variants_with_only_ai_edge_litert_and_numpy(built, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    _, bundle = built
    py = _litert_venv(tmp_path_factory)
    b = shutil.copytree(bundle, tmp_path / "device")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    probe = subprocess.run([str(py), "-c", "import importlib.util as u; print([m for m in ('irisonnx', 'torch', 'onnx', 'onnxruntime', 'tensorflow') if u.find_spec(m)])"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert probe.stdout.strip() == "[]", probe.stdout + probe.stderr
    theirs = run_cli("predict", str(bundle / "model.fp32.onnx"), "--input", str(IRIS_CSV), "--json")
    assert theirs.returncode == 0, theirs.stderr
    fp32 = [p["label"] for p in json.loads(theirs.stdout)["predictions"]]
    for name in LITERT:
        r = subprocess.run([str(py), str(b / "predict.py"), "--input", str(IRIS_CSV), "--variant", name, "--json"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
        assert r.returncode == 0, r.stderr
        mine = [p["label"] for p in json.loads(r.stdout)["predictions"]]
        agree = np.mean(np.array(mine) == np.array(fp32))
        assert len(mine) == 150 and agree >= (1.0 if name != "litert-int8" else 0.97), (name, agree)
    # without ai-edge-litert: exit 4 naming what to install
    hide = f"import runpy, sys; sys.modules['ai_edge_litert'] = None; sys.argv = ['predict.py', '--values', '5.1,3.5,1.4,0.2', '--variant', 'litert-fp32']; runpy.run_path({str(b / 'predict.py')!r}, run_name='__main__')"
    r = subprocess.run([sys.executable, "-c", hide], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 4 and "pip install ai-edge-litert numpy" in r.stderr


@pytest.mark.litert_converter
@pytest.mark.skipif(not converter_status()[0], reason="the ONNX-to-TFLite converter is not set up: irisonnx setup litert")
def test_onnx2tf_route_for_a_model_that_is_not_a_classifier(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    from corpus import get_corpus

    shutil.copyfile(get_corpus(tmp_path_factory, "torch")["cnn"].onnx, tmp_path / "cnn.onnx")
    res = build_edge(tmp_path / "cnn.onnx", variants=["fp32", *LITERT], bench_rounds=0, input_ranges={"image": (-1.0, 1.0)}, n_random=64)
    assert res.passed, [c.describe() for v in res.failed for c in v.failed_checks]
    made = {v.variant: v for v in res.variants}
    assert set(made) == {"fp32", *LITERT} and made["litert-fp32"].settings["tool"] == "onnx2tf from the ONNX file"
    assert made["litert-fp16"].bytes < 0.7 * made["litert-fp32"].bytes  # float16 weights


def test_without_converter_or_torch_weights_the_litert_variants_are_skipped_with_the_command(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, no_converter: None) -> None:
    from corpus import get_corpus

    shutil.copyfile(get_corpus(tmp_path_factory, "torch")["cnn"].onnx, tmp_path / "cnn.onnx")  # a bare file: no run
    res = build_edge(tmp_path / "cnn.onnx", variants=["fp32", "litert-fp32", "litert-int8"], bench_rounds=0, input_ranges={"image": (-1.0, 1.0)}, n_random=16)
    assert [v.variant for v in res.variants] == ["fp32"] and res.passed
    assert {s["variant"]: s["reason"] for s in res.skipped} == {n: "the ONNX-to-TFLite converter is not set up: irisonnx setup litert" for n in ("litert-fp32", "litert-int8")}


def test_bench_times_the_bundles_litert_variants(built, iris_run: Path) -> None:
    from irisonnx.bench import BenchSettings, run_bench
    from irisonnx.runtimes.litert import ROUTE_FILE

    res = run_bench(iris_run, runtimes=["ort-cpu"], variants=["fp32", "litert-int8"], settings=BenchSettings.make(quick=True, batch_sizes=(1, 100), latency_calls=50))
    b = next(r for r in res.runtimes if r.runtime == "edge:litert-int8")
    assert b.available and b.latency is not None and b.latency.p50_us > 0
    assert b.info["route"] == ROUTE_FILE and b.info["model"] == str(iris_run / "edge" / "model.litert-int8.tflite") and b.info["conversion"] is None


def test_a_bare_model_with_its_module_gets_litert_variants_from_the_torch_weights(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, no_converter: None) -> None:
    from corpus import get_corpus

    from irisonnx.runtimes.litert import ROUTE_MODULE

    m = get_corpus(tmp_path_factory, "torch")["cnn"]
    for name in ("cnn.py", "cnn.safetensors", "cnn.onnx"):
        shutil.copyfile(m.onnx.parent / name, tmp_path / name)
    res = build_edge(tmp_path / "cnn.onnx", variants=["fp32", "litert-fp32"], module=f"{tmp_path / 'cnn.py'}:make_model", bench_rounds=0, input_ranges={"image": (-1.0, 1.0)}, n_random=16)
    assert res.passed and [v.variant for v in res.variants] == ["fp32", "litert-fp32"], (res.skipped, [c.describe() for v in res.failed for c in v.failed_checks])
    assert next(v for v in res.variants if v.variant == "litert-fp32").settings["tool"] == ROUTE_MODULE
