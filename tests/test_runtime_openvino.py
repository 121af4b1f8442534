"""The openvino runtime: parity with onnxruntime and torch at f32, the precision it reports
is the one OpenVINO compiled, sabotage fails, a missing op is skipped, a missing package
names its install command. Oracles: plain onnxruntime sessions, torch (the corpus's
expected outputs), OpenVINO's own compiled model, numpy, never irisonnx's runtimes."""

from __future__ import annotations

import importlib.util
import json
import shutil
from importlib.metadata import version
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto as T
from onnx import helper, numpy_helper

ov = pytest.importorskip("openvino")

from conftest import run_cli  # noqa: E402
from corpus import get_corpus  # noqa: E402
from irisonnx.compare.runner import run_compare  # noqa: E402
from irisonnx.errors import RuntimeUnavailable, UsageError  # noqa: E402
from irisonnx.modelfile.onnx_io import load_model_safely  # noqa: E402
from irisonnx.runtimes import RuntimeContext, create  # noqa: E402


@pytest.fixture(scope="module")
def exported(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from irisonnx.export.export import export_run

    run = tmp_path_factory.mktemp("ov") / "run"
    shutil.copytree(tiny_run, run)
    export_run(run, exporter="torchscript")
    return run


def _runtime(path: Path, spec: str = "openvino", threads: int | None = None):
    info = load_model_safely(path)
    return create(spec, RuntimeContext(model_path=info.path, model_info=info, output_names=info.output_names, threads=threads))


def _ort(path: Path, feeds: dict) -> dict:
    s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in s.get_outputs()], s.run(None, feeds)))


def _test_rows(run: Path) -> np.ndarray:
    from irisonnx.training.run import Run

    ds = Run.open(run).dataset()
    return np.ascontiguousarray(ds.features[ds.test_idx], dtype=np.float32)


def test_iris_compare_passes_at_default_tolerances_and_json_names_version_and_f32(exported: Path) -> None:
    r = run_cli("compare", str(exported), "--runtimes", "torch,ort-cpu,openvino", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["passed"] and doc["baseline"] == "torch"
    info = next(x["info"] for x in doc["runtimes"] if x["runtime"] == "openvino")
    assert info["versions"] == {"openvino": version("openvino")}
    assert info["precision"] == "f32" and info["route"] == "read ONNX directly" and info["device"] == "CPU"
    pair = next(p for p in doc["pairs"] if p["runtime"] == "openvino")
    (logits,) = pair["outputs"]
    assert logits["output"] == "logits" and logits["n_elements"] == 90 and logits["max_abs_error"] < 1e-5
    # The text table says the same (the generic rendering of precision and route).
    r = run_cli("compare", str(exported), "--runtimes", "ort-cpu,openvino")
    assert r.returncode == 0, r.stderr
    line = next(l for l in r.stdout.splitlines() if l.startswith("openvino: ran in"))
    assert f"openvino {version('openvino')}" in line and "precision f32" in line and "route: read ONNX directly" in line
    # And the same figure against a plain onnxruntime session on the test rows.
    x = _test_rows(exported)
    want = _ort(exported / "model.onnx", {"features": x})["logits"]
    got = _runtime(exported / "model.onnx").run({"features": x})["logits"]
    assert got.shape == want.shape == (30, 3)
    assert float(np.abs(got - want).max()) < 1e-5


def test_report_shows_precision_and_route(exported: Path, tmp_path: Path) -> None:
    from irisonnx.report.report import build_report

    run = tmp_path / "run"
    shutil.copytree(exported, run)
    r = run_cli("compare", str(run), "--runtimes", "ort-cpu,openvino:bf16", "--json")
    used = json.loads(r.stdout)["runtimes"][1]["info"]["precision"]
    assert r.returncode == (1 if used == "bf16" else 0), r.stderr  # bf16 leaves the default tolerance
    (run / "compare.json").write_text(r.stdout)
    html = build_report(run, out=tmp_path / "report.html").path.read_text()
    assert f"<td>precision {used}; route: read ONNX directly</td>" in html
    assert f"<td>openvino {version('openvino')}</td>" in html


def test_bf16_option_reports_what_openvino_compiled(exported: Path) -> None:
    model = exported / "model.onnx"
    core = ov.Core()
    # OpenVINO's own word for what an f32 and a bf16 hint compile to on this CPU
    want = {h: core.compile_model(core.read_model(str(model)), "CPU", {"INFERENCE_PRECISION_HINT": h}).get_property("INFERENCE_PRECISION_HINT").get_type_name() for h in ("f32", "bf16")}
    assert want["f32"] == "f32"
    x = _test_rows(exported)
    oracle = _ort(model, {"features": x})["logits"]
    rt = _runtime(model, "openvino:bf16")
    got = rt.run({"features": x})["logits"]
    assert rt.info()["precision"] == want["bf16"]
    err = float(np.abs(got - oracle).max())
    if want["bf16"] == "bf16":
        assert 1e-4 < err < 0.2  # bf16 has 8 mantissa bits: visibly off, still the same model
    else:
        assert err < 1e-5
    rt.deactivate()
    one = _runtime(model, threads=1)
    one.run({"features": x})
    assert one.info()["threads"] == 1 and one.info()["precision"] == "f32"
    with pytest.raises(UsageError, match="unknown option 'int4' for openvino"):
        _runtime(model, "openvino:int4").is_available()


@pytest.fixture(scope="module")
def torch_corpus(tmp_path_factory: pytest.TempPathFactory):
    return get_corpus(tmp_path_factory, "torch")


@pytest.mark.parametrize("name", ["cnn", "encoder"])
def test_cnn_and_attention_agree_with_onnxruntime_and_torch(torch_corpus, name: str) -> None:
    m = torch_corpus[name]
    rng = np.random.default_rng(3)
    if name == "cnn":
        feeds = {"image": rng.standard_normal((64, 1, 28, 28)).astype(np.float32)}
    else:
        ids = rng.integers(0, 50, (32, 9)).astype(np.int64)
        mask = np.zeros((32, 9), dtype=bool)
        mask[::3, 6:] = True
        feeds = {"ids": ids, "mask": mask}
    rt = _runtime(m.onnx)
    got = rt.run(feeds)
    want = _ort(m.onnx, feeds)
    assert sorted(got) == sorted(want) == sorted(m.expected)
    for k in want:
        assert got[k].shape == want[k].shape and got[k].dtype == want[k].dtype
        assert float(np.abs(got[k] - want[k]).max()) < 1e-4, k
    # the corpus's own inputs against torch's outputs
    mine = rt.run(m.inputs)
    for k, v in m.expected.items():
        assert float(np.abs(mine[k] - v).max()) < 1e-4, k


def _edited(src: Path, dst: Path) -> tuple[Path, str]:
    m = onnx.load(str(src))
    for init in m.graph.initializer:
        a = numpy_helper.to_array(init)
        if a.ndim == 2:
            a = a.copy()
            a[0, 0] += 0.5
            init.CopyFrom(numpy_helper.from_array(a, init.name))
            onnx.save(m, str(dst))
            return dst, init.name
    raise AssertionError("no weight matrix")


def test_edited_weight_fails_against_torch_and_locate_names_its_node(exported: Path, tmp_path: Path) -> None:
    edited, weight = _edited(exported / "model.onnx", tmp_path / "edited.onnx")
    node = next(n for n in onnx.load(str(edited)).graph.node if weight in n.input)
    # Compare the run first: nothing kept from that run may hide the edit.
    assert run_compare(exported, runtimes=["torch", "openvino"]).passed
    res = run_compare(exported, model=edited, runtimes=["torch", "openvino"], locate=True)
    assert not res.passed
    (pair,) = res.pairs
    # the logits really moved: plain onnxruntime on the edited file against the original
    x = _test_rows(exported)
    moved = float(np.abs(_ort(edited, {"features": x})["logits"] - _ort(exported / "model.onnx", {"features": x})["logits"]).max())
    assert moved > 0.01
    assert pair.outputs["logits"].max_abs == pytest.approx(moved, rel=1e-3, abs=1e-5)
    (loc,) = res.location
    assert loc["first_divergence"]["node"] == node.name and loc["first_divergence"]["op_type"] == node.op_type


def _scaler_model(path: Path) -> Path:
    """Relu then ai.onnx.ml Scaler: onnxruntime and the ONNX reference run it; OpenVINO's
    ONNX frontend has no conversion rule for Scaler."""
    vi = helper.make_tensor_value_info
    g = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Scaler", ["r"], ["y"], domain="ai.onnx.ml", offset=[0.5, 0.5, 0.5], scale=[2.0, 2.0, 2.0])],
        "scaler", [vi("x", T.FLOAT, ["N", 3])], [vi("y", T.FLOAT, ["N", 3])],
    )  # fmt: skip
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)])
    m.ir_version = 8
    onnx.checker.check_model(m, full_check=True)
    onnx.save(m, str(path))
    return path


def test_unsupported_op_is_skipped_and_the_others_compared(tmp_path: Path) -> None:
    model = _scaler_model(tmp_path / "scaler.onnx")
    res = run_compare(model, runtimes=["ort-cpu", "openvino", "reference"], inputs="random:50")
    st = {s.spec: s for s in res.runtimes}
    assert not st["openvino"].available and "unsupported: OpType ai.onnx.ml.Scaler" in st["openvino"].reason
    assert [p.runtime for p in res.pairs] == ["reference"] and res.passed
    r = run_cli("compare", str(model), "--runtimes", "ort-cpu,openvino,reference", "--inputs", "random:50")
    assert r.returncode in (0, 1), r.stderr
    assert "openvino: unavailable: unsupported: OpType ai.onnx.ml.Scaler" in r.stdout
    # bench times the others and lists openvino with the op
    from irisonnx.bench import BenchSettings, run_bench

    b = run_bench(model, runtimes=["ort-cpu", "openvino"], settings=BenchSettings.make(quick=True, batch_sizes=(1, 64), repeats=1, warmup=1, latency_calls=20))
    by = {x.runtime: x for x in b.runtimes}
    assert not by["openvino"].available and "unsupported: OpType ai.onnx.ml.Scaler" in by["openvino"].reason
    assert by["ort-cpu"].latency is not None and by["ort-cpu"].latency.p50_us > 0


def test_missing_package_names_the_extra(exported: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "openvino" else real(name, *a))
    with pytest.raises(RuntimeUnavailable) as e:
        run_compare(exported, runtimes=["ort-cpu", "openvino"])
    assert e.value.exit_code == 4
    assert "openvino is not installed: pip install 'irisonnx[openvino]'" in str(e.value)


def test_needs_an_onnx_file(torch_corpus) -> None:
    from irisonnx.training.module import parse_module_spec

    rt = create("openvino", RuntimeContext(module=parse_module_spec(torch_corpus["cnn"].module)))
    ok, why = rt.is_available()
    assert not ok and "needs an ONNX file" in why


def test_fixed_batch_model_fed_as_the_caller_chunks(tmp_path_factory: pytest.TempPathFactory) -> None:
    m = get_corpus(tmp_path_factory, "onnx")["fixed_batch"]
    got = _runtime(m.onnx).run(m.inputs)["y"]
    assert got.shape == (1, 3) and float(np.abs(got - m.expected["y"]).max()) < 1e-6
    res = run_compare(m.onnx, runtimes=["ort-cpu", "openvino"], inputs="uniform:5")
    assert res.passed and res.n_rows == 5


def test_backend_cases_scalars_dtypes_and_what_compare_says(tmp_path: Path) -> None:
    """ONNX backend node cases: 0-d inputs (Clip's min/max, Range's start/limit/delta), read-only
    float16/float64 arrays, and Cast of +-inf. Each output is checked against the case's own
    expected output; where OpenVINO's raw output (its API, called directly) differs from it,
    compare --load-io must say FAIL, and PASS where it does not."""
    from corpus import build_backend

    from irisonnx.runtimes.conversion import RuntimeUnsupported

    names = ("test_clip", "test_range_float_type_positive_delta", "test_cast_FLOAT16_to_FLOAT", "test_cast_FLOAT_to_DOUBLE", "test_unsqueeze_axis_0")
    cases = build_backend(tmp_path / "backend", names)
    assert sorted(cases.models) == sorted(names), cases.skipped
    core = ov.Core()
    for m in cases:
        try:
            compiled = core.compile_model(core.read_model(str(m.onnx)), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
        except RuntimeError:  # OpenVINO 2026.4's CPU plugin: "doesn't support Unsqueeze operation with dynamic rank"
            with pytest.raises(RuntimeUnsupported, match="unsupported: compiling for the CPU failed"):
                _runtime(m.onnx).run(m.inputs)
            res = run_compare(m.onnx, runtimes=["golden", "ort-cpu", "openvino"], load_io=m.test_data)
            assert res.passed and [p.runtime for p in res.pairs] == ["ort-cpu"]
            assert "unsupported" in next(s.reason for s in res.runtimes if s.spec == "openvino")
            continue
        got = _runtime(m.onnx).run(m.inputs)
        raw = compiled.create_infer_request().infer({k: np.array(v) for k, v in m.inputs.items()})
        raw_ok = True
        for i, (k, want) in enumerate(m.expected.items()):
            assert got[k].shape == want.shape and got[k].dtype == want.dtype, m.name
            np.testing.assert_array_equal(got[k], np.asarray(raw[i]), err_msg=m.name)
            raw_ok &= bool(np.allclose(np.asarray(raw[i]), want, rtol=1e-5, atol=1e-5, equal_nan=True))
        if m.name != "test_cast_FLOAT_to_DOUBLE":
            assert raw_ok, m.name
        res = run_compare(m.onnx, runtimes=["golden", "openvino"], load_io=m.test_data)
        assert res.passed == raw_ok, (m.name, raw_ok)


def test_bench_times_openvino_with_the_threads_asked(exported: Path) -> None:
    from irisonnx.bench import BenchSettings, run_bench

    b = run_bench(exported, runtimes=["ort-cpu", "openvino"], settings=BenchSettings.make(quick=True, batch_sizes=(1, 256), repeats=1, warmup=1, latency_calls=20, threads=1))
    ovb = next(x for x in b.runtimes if x.runtime == "openvino")
    assert ovb.available and ovb.latency is not None and ovb.latency.p50_us > 0
    assert [p.batch_size for p in ovb.throughput] == [1, 256] and all(p.rows_per_s > 0 for p in ovb.throughput)
    assert ovb.threads.startswith("1 (OpenVINO") and ovb.info["precision"] == "f32" and ovb.info["threads"] == 1
