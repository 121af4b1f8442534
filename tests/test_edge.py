"""irisonnx edge: variants made and gated, all-or-nothing bundles, .ort twins, standalone predict.py."""

from __future__ import annotations

import ast
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from conftest import IRIS_CSV, run_cli
from irisonnx.edge.build import Gates, QuantOptions, build_edge, parse_variants
from irisonnx.edge.variants import DEFAULT  # what edge builds when no variants are named
from irisonnx.errors import ArtifactError, UsageError
from irisonnx.storage import TEMP_MARK


@pytest.fixture(scope="module")
def exported(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from irisonnx.export.export import export_run

    run = tmp_path_factory.mktemp("edge") / "run"
    shutil.copytree(tiny_run, run)
    export_run(run, exporter="torchscript")
    return run


@pytest.fixture(scope="module")
def built(exported: Path):
    """One bundle with every variant and its .ort twin, shared by the module (do not modify)."""
    res = build_edge(exported, ort_format=True, bench_rounds=2, bench_reps=50, bench_rows=4096)
    return res, exported / "edge"


def _snapshot(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def _temp_dirs(folder: Path) -> list[Path]:
    return sorted(folder.glob(f"{TEMP_MARK}*"))


def _session(path_or_bytes) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.log_severity_level = 3
    return ort.InferenceSession(path_or_bytes, so, providers=["CPUExecutionProvider"])


# --- the variants and their gates ------------------------------------------------------------


def test_every_variant_is_built_gated_and_listed(built, exported: Path, iris) -> None:
    res, bundle = built
    assert res.passed and res.written, [c.describe() for v in res.failed for c in v.failed_checks]
    assert [v.variant for v in res.variants] == list(DEFAULT)
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["format"] == "irisonnx-edge/1"
    assert manifest["validated_with"]["onnxruntime"] == ort.__version__
    assert manifest["source"]["sha256"] == hashlib.sha256((exported / "model.onnx").read_bytes()).hexdigest()
    on_disk = {p.name for p in bundle.iterdir()} - {"manifest.json"}
    assert on_disk == set(manifest["files"]), "every file in the bundle is in the manifest, and only those"
    for name, entry in manifest["files"].items():
        data = (bundle / name).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest() and entry["bytes"] == entry["size"] == len(data), name
    for v in res.variants:
        rec = next(r for r in manifest["variants"] if r["variant"] == v.variant)
        assert rec["file"] == f"model.{v.variant}.onnx" and rec["bytes"] == (bundle / rec["file"]).stat().st_size
        assert rec["checks"] and all(c["passed"] for c in rec["checks"])
        assert v.latency_us and v.latency_us > 0 and v.throughput_rows_s and v.throughput_rows_s > 0
    # fp32 is the exported file itself
    assert (bundle / "model.fp32.onnx").read_bytes() == (exported / "model.onnx").read_bytes()
    # the gates hold by independent arithmetic too: test accuracy of each variant vs labels
    x, y = iris.features[iris.test_idx], iris.labels[iris.test_idx]
    ref = _session(str(bundle / "model.fp32.onnx")).run(None, {"features": x})[0]
    for v in ("int8-dynamic", "int8-static", "fp16"):
        out = _session(str(bundle / f"model.{v}.onnx")).run(None, {"features": x})[0]
        agree = float((out.argmax(1) == ref.argmax(1)).mean())
        assert agree >= (1.0 if v == "fp16" else 0.97), v
        assert float((ref.argmax(1) == y).mean()) - float((out.argmax(1) == y).mean()) <= 0.02 + 1e-9, v
        assert res.variant(v).summary["argmax_agreement"] <= agree + 1e-12, "the reported figure is the worse batch mode"


def test_variants_are_what_they_claim(built) -> None:
    _, bundle = built

    def graph(v: str) -> onnx.ModelProto:
        return onnx.load(str(bundle / f"model.{v}.onnx"))

    def ops(m: onnx.ModelProto) -> set[str]:
        return {f"{n.domain}::{n.op_type}" if n.domain else n.op_type for n in m.graph.node}

    assert "com.microsoft::FusedGemm" in ops(graph("fp32-opt"))  # ORT_ENABLE_EXTENDED fused Gemm+Relu
    assert {"DynamicQuantizeLinear", "MatMulInteger"} <= ops(graph("int8-dynamic"))
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops(graph("int8-static"))
    f16 = graph("fp16")
    assert {i.data_type for i in f16.graph.initializer} == {onnx.TensorProto.FLOAT16}
    io_types = {v.type.tensor_type.elem_type for v in list(f16.graph.input) + list(f16.graph.output)}
    assert io_types == {onnx.TensorProto.FLOAT}, "float32 inputs and outputs are kept"
    onnx.checker.check_model(f16, full_check=True)  # the converter's Casts were sorted into place
    for v in DEFAULT:
        meta = {p.key: p.value for p in graph(v).metadata_props}
        assert json.loads(meta["class_names"]) == ["setosa", "versicolor", "virginica"], v
        if v != "fp32":
            assert meta["edge_variant"] == v


def test_honest_findings_are_reported(built) -> None:
    res, _ = built
    dyn = res.variant("int8-dynamic")
    assert dyn.batch_max_abs_diff > 0 and any("depend on the other rows" in n for n in dyn.notes)
    assert res.variant("fp32").batch_max_abs_diff == 0 and res.variant("fp32-opt").batch_max_abs_diff == 0
    fp16 = res.variant("fp16")
    ref_random = [f for f in fp16.figures if f.runtime == "reference" and f.split == "random"]
    assert ref_random and ref_random[0].nonfinite > 0, "true float16 overflows on the ±1e6 probes"
    base = res.variant("fp32")
    for v in res.variants:
        if v.bytes > base.bytes:
            assert any("x the bytes of fp32" in n for n in v.notes), v.variant
    from irisonnx.edge.render import render_text

    text = render_text(res)
    for v in DEFAULT:
        assert f"\n{v} " in text
    assert "fp16 math" in text and "vs fp32" in text and "batch-1 µs" in text


def test_ort_twins_load_and_match_bitwise(built, iris) -> None:
    from irisonnx.compare.inputs import random_rows

    _, bundle = built
    x = np.concatenate([iris.features[iris.test_idx], random_rows(500, iris.meta["stats"]["min"], iris.meta["stats"]["max"], seed=7)])
    for v in DEFAULT:
        a = _session((bundle / f"model.{v}.ort").read_bytes()).run(None, {"features": x})[0]
        b = _session(str(bundle / f"model.{v}.onnx")).run(None, {"features": x})[0]
        assert a.dtype == b.dtype == np.float32
        assert np.array_equal(a.view(np.uint32), b.view(np.uint32)), v
    config = (bundle / "required_operators.config").read_text()
    assert "com.microsoft;1;" in config and "FusedGemm" in config and "Gemm" in config
    assert str(bundle.parent) not in config and TEMP_MARK not in config, "no build paths in the config"


def test_bundle_models_verify_through_irisonnx(built) -> None:
    """The bundle's manifest has the same 'files' table as a run's: predict and inspect check it."""
    _, bundle = built
    r = run_cli("predict", str(bundle / "model.int8-static.onnx"), "--values", "5.1,3.5,1.4,0.2", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["predictions"][0]["class"] == "setosa"


# --- all or nothing --------------------------------------------------------------------------


def test_failed_gate_exits_1_and_leaves_the_previous_bundle(built, exported: Path, tmp_path: Path) -> None:
    _, bundle = built
    before = _snapshot(bundle)
    r = run_cli("edge", str(exported), "--variants", "fp32,int8-dynamic", "--min-agreement", "1.01", "--bench-rounds", "0")
    assert r.returncode == 1, r.stderr
    assert "int8-dynamic" in r.stderr and "short by 1.00 points" in r.stderr and "bundle not written" in r.stderr
    assert r.stderr.count("\n") == 1, "one line on stderr"
    assert "FAIL" in r.stdout and "NOT written" in r.stdout
    assert _snapshot(bundle) == before, "the good bundle is untouched"
    assert _temp_dirs(exported) == []
    # into a new folder: nothing appears at all
    new = tmp_path / "fresh"
    r = run_cli("edge", str(exported), "--out", str(new), "--variants", "fp16", "--fp16-min-agreement", "1.01", "--bench-rounds", "0", "--json")
    assert r.returncode == 1
    doc = json.loads(r.stdout)
    assert doc["written"] is False and doc["variants"][0]["passed"] is False
    assert not new.exists() and _temp_dirs(tmp_path) == []


def test_sabotaged_calibration_fails_int8_static(exported: Path, iris, tmp_path: Path) -> None:
    # calibrated on one repeated row: every activation range collapses to a point
    mean_row = np.repeat(iris.features[iris.train_idx].mean(axis=0, keepdims=True), 64, axis=0)
    res = build_edge(exported, tmp_path / "edge", ["int8-static"], calibration_rows=mean_row, bench_rounds=0)
    assert not res.passed and not res.written
    failed = {c.name for c in res.variant("int8-static").failed_checks}
    assert "argmax agreement, test split" in failed and "accuracy drop vs fp32" in failed
    assert not (tmp_path / "edge").exists() and _temp_dirs(tmp_path) == []


def test_rebuild_replaces_a_bundle_atomically(exported: Path, tmp_path: Path) -> None:
    out = tmp_path / "b"
    first = build_edge(exported, out, ["fp32", "fp16"], bench_rounds=0)
    assert first.written and {p.name for p in out.iterdir()} >= {"model.fp32.onnx", "model.fp16.onnx"}
    second = build_edge(exported, out, ["fp32-opt"], bench_rounds=0)
    assert second.written
    assert {p.name for p in out.iterdir()} == {"model.fp32-opt.onnx", "labels.json", "manifest.json", "predict.py"}
    assert _temp_dirs(tmp_path) == []


def test_refuses_to_replace_a_folder_that_is_not_a_bundle(exported: Path, tmp_path: Path) -> None:
    precious = tmp_path / "mine"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    with pytest.raises(UsageError, match="not an irisonnx edge bundle"):
        build_edge(exported, precious, ["fp32"], bench_rounds=0)
    assert (precious / "notes.txt").read_text() == "keep me"
    with pytest.raises(UsageError, match="holds the source model"):
        build_edge(exported / "model.onnx", exported.parent, ["fp32"], bench_rounds=0)


def test_bad_requests_are_usage_errors(exported: Path) -> None:
    with pytest.raises(UsageError, match="unknown variant 'int4'"):
        parse_variants("fp32,int4")
    with pytest.raises(UsageError, match="listed twice"):
        parse_variants("fp16,fp16")
    with pytest.raises(UsageError, match="bad gate min-agreement"):
        Gates(min_agreement=-0.1)
    with pytest.raises(UsageError, match="unknown calibration method"):
        QuantOptions(calibration_method="kl")
    r = run_cli("edge", str(exported), "--variants", "int3")
    assert r.returncode == 2 and "unknown variant" in r.stderr


def test_tampered_source_model_is_refused(exported: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(exported, run, ignore=shutil.ignore_patterns("edge", "checkpoints"))
    data = bytearray((run / "model.onnx").read_bytes())
    data[-1] ^= 1
    (run / "model.onnx").write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="corrupt or was modified"):
        build_edge(run, variants=["fp32"], bench_rounds=0)
    assert not (run / "edge").exists()


def test_calibration_methods_and_per_channel(exported: Path, tmp_path: Path) -> None:
    for method in ("entropy", "percentile"):
        res = build_edge(exported, tmp_path / method, ["int8-static"], quant=QuantOptions(calibration_method=method, per_channel=True), bench_rounds=0)
        v = res.variant("int8-static")
        assert res.written, [c.describe() for c in v.failed_checks]
        assert v.settings["calibration_method"] == method and v.settings["per_channel"] is True
        manifest = json.loads((tmp_path / method / "manifest.json").read_text())
        assert manifest["quantization"]["calibration_method"] == method


def test_build_never_imports_torch(exported: Path, tmp_path: Path) -> None:
    code = f"import sys; from irisonnx.edge.build import build_edge; r = build_edge({str(exported)!r}, {str(tmp_path / 'e')!r}, ['fp32', 'int8-dynamic', 'fp16'], ort_format=True, bench_rounds=0); print(r.written, 'torch' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["True", "False"]
    assert r.stderr == "", "the library prints nothing, and the tools it drives are silenced"


def test_cli_json_is_one_document(exported: Path, tmp_path: Path) -> None:
    r = run_cli("edge", str(exported), "--out", str(tmp_path / "j"), "--variants", "fp32,int8-static", "--bench-rounds", "1", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["written"] is True and [v["variant"] for v in doc["variants"]] == ["fp32", "int8-static"]
    s = doc["variants"][1]["summary"]
    assert set(s) >= {"accuracy", "argmax_agreement", "max_abs_error", "argmax_agreement_random", "max_abs_error_random"}
    assert doc["variants"][1]["batch1_latency_us"] > 0


# --- the standalone predict.py -----------------------------------------------------------------


def test_predict_py_imports_only_stdlib_numpy_and_the_variant_runtimes() -> None:
    import irisonnx.edge.template.predict as template

    tree = ast.parse(Path(template.__file__).read_text())

    def roots_in(node: ast.AST) -> set[str]:
        roots = set()
        for n in ast.walk(node):
            if isinstance(n, ast.Import):
                roots |= {a.name.split(".")[0] for a in n.names}
            elif isinstance(n, ast.ImportFrom):
                roots.add((n.module or "").split(".")[0])
        return roots

    # Another family's runtime is imported only inside its own loader, when that variant runs.
    family_loaders = {"executorch_loader": {"executorch_numpy_runtime", "executorch", "torch"}, "openvino_loader": {"openvino"}, "litert_loader": {"ai_edge_litert"}}
    loaders = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in family_loaders}
    assert set(loaders) == set(family_loaders)
    for name, fn in loaders.items():
        assert roots_in(fn) <= set(sys.stdlib_module_names) | {"numpy"} | family_loaders[name], name
    rest = ast.Module(body=[n for n in tree.body if n not in loaders.values()], type_ignores=[])
    allowed = set(sys.stdlib_module_names) | {"numpy", "onnxruntime"}
    assert roots_in(rest) <= allowed, roots_in(rest) - allowed


def _copy_bundle(bundle: Path, dst: Path) -> Path:
    shutil.copytree(bundle, dst)
    return dst


def test_tampered_bundle_is_refused_with_exit_3(built, tmp_path: Path) -> None:
    _, bundle = built
    b = _copy_bundle(bundle, tmp_path / "b")
    ok = subprocess.run([sys.executable, str(b / "predict.py"), "--values", "5.1,3.5,1.4,0.2"], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert ok.returncode == 0 and "setosa" in ok.stdout, ok.stderr
    data = bytearray((b / "model.fp32.onnx").read_bytes())
    data[len(data) // 2] ^= 0x40
    (b / "model.fp32.onnx").write_bytes(bytes(data))
    r = subprocess.run([sys.executable, str(b / "predict.py"), "--values", "5.1,3.5,1.4,0.2"], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert r.returncode == 3 and "corrupt or was modified" in r.stderr and r.stdout == ""
    # the manifest's record of it edited instead: the same refusal
    b2 = _copy_bundle(bundle, tmp_path / "b2")
    m = json.loads((b2 / "manifest.json").read_text())
    m["files"]["model.fp16.ort"]["sha256"] = "0" * 64
    (b2 / "manifest.json").write_text(json.dumps(m))
    r = subprocess.run([sys.executable, str(b2 / "predict.py"), "--values", "5.1,3.5,1.4,0.2", "--variant", "fp16", "--ort"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 3 and "model.fp16.ort" in r.stderr
    (b2 / "labels.json").write_text((b2 / "labels.json").read_text().replace("setosa", "rose"))
    r = subprocess.run([sys.executable, str(b2 / "predict.py"), "--values", "5.1,3.5,1.4,0.2"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 3 and "labels.json" in r.stderr
    r = subprocess.run([sys.executable, str(b / "predict.py"), "--values", "5.1,3.5"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 3, "the tampered model is refused before the input is even read"
    r = subprocess.run([sys.executable, str(b2 / "predict.py"), "--values", "5.1,x,1.4,0.2", "--bundle", str(bundle)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "not a number" in r.stderr


@pytest.mark.slow
def test_predict_py_in_a_fresh_venv_matches_irisonnx_predict(built, fresh_venv: Path, tmp_path: Path) -> None:
    _, bundle = built
    b = _copy_bundle(bundle, tmp_path / "device")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    probe = subprocess.run([str(fresh_venv), "-c", "import importlib.util as u; print([m for m in ('irisonnx', 'torch', 'onnx', 'click') if u.find_spec(m)])"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert probe.stdout.strip() == "[]", f"the venv must hold only onnxruntime and numpy: {probe.stdout} {probe.stderr}"
    for variant in DEFAULT:
        theirs_run = run_cli("predict", str(bundle / f"model.{variant}.onnx"), "--input", str(IRIS_CSV), "--json")
        assert theirs_run.returncode == 0, theirs_run.stderr
        theirs = json.loads(theirs_run.stdout)
        for ort_format in (False, True):
            args = [str(fresh_venv), str(b / "predict.py"), "--input", str(IRIS_CSV), "--variant", variant, "--json"] + (["--ort"] if ort_format else [])
            r = subprocess.run(args, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
            assert r.returncode == 0, r.stderr
            mine = json.loads(r.stdout)
            assert mine["n_rows"] == theirs["n_rows"] == 150
            # same labels and the very same float32 probabilities (softmax in float64 both sides)
            assert mine["predictions"] == theirs["predictions"], (variant, ort_format)
    table = subprocess.run([str(fresh_venv), str(b / "predict.py"), "--values", "6.7,3.0,5.2,2.3"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert table.returncode == 0 and "virginica" in table.stdout.splitlines()[1]
