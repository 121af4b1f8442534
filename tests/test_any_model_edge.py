"""edge and bench for models irisonnx did not make: skl2onnx, a torch CNN, an onnx.helper graph
without MatMul/Gemm/Conv, int64 token ids, a fixed batch. Every model is built here; nothing is
downloaded. The gates' claims are re-checked with onnxruntime directly on inputs drawn here."""

from __future__ import annotations

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

pytestmark = pytest.mark.filterwarnings("ignore:You are using the legacy TorchScript:DeprecationWarning")
from onnx import TensorProto, helper

from onnx_helpers import cli, one_error_line

FAST_EDGE = ["--random-rows", "48", "--bench-rounds", "1", "--json"]
FAST_BENCH = ["--runtimes", "ort-cpu", "--quick", "--repeats", "1", "--warmup", "1", "--latency-calls", "20", "--threads", "1", "--json"]
INT8_SKIP = "no MatMul/Gemm/Conv to quantise"  # the reason the issue asks for, word for word


# --- the foreign models ---------------------------------------------------------------------


def _skl_logreg(path: Path) -> Path:
    from skl2onnx import to_onnx
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    x, y = load_iris(return_X_y=True)
    model = to_onnx(LogisticRegression(max_iter=500).fit(x, y), x[:1].astype(np.float32), options={"zipmap": False})
    onnx.save(model, path)
    return path


def _torch_cnn(path: Path) -> Path:
    import torch

    class CNN(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.c1 = torch.nn.Conv2d(1, 4, 3, padding=1)
            self.c2 = torch.nn.Conv2d(4, 8, 3, stride=2, padding=1)
            self.fc = torch.nn.Linear(8 * 14 * 14, 10)

        def forward(self, image):  # (N, 1, 28, 28)
            x = torch.relu(self.c1(image))
            x = torch.relu(self.c2(x))
            return self.fc(x.flatten(1))  # (N, 10)

    torch.manual_seed(0)
    torch.onnx.export(CNN().eval(), (torch.zeros(2, 1, 28, 28),), str(path), input_names=["image"], output_names=["logits"], dynamic_axes={"image": {0: "N"}, "logits": {0: "N"}}, dynamo=False, opset_version=17)
    return path


def _torch_embedding(path: Path) -> Path:
    import torch

    class Emb(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.e = torch.nn.Embedding(10, 6)
            self.lin = torch.nn.Linear(6, 3)

        def forward(self, ids):  # (N, T) int64
            return self.lin(self.e(ids)).mean(1)  # (N, 3)

    torch.manual_seed(0)
    torch.onnx.export(Emb().eval(), (torch.zeros(2, 5, dtype=torch.long),), str(path), input_names=["ids"], output_names=["out"], dynamic_axes={"ids": {0: "N", 1: "T"}, "out": {0: "N"}}, dynamo=False, opset_version=17)
    return path


def _no_matmul(path: Path) -> Path:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 5])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 5])
    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Mul", ["r", "x"], ["y"])]
    onnx.save(helper.make_model(helper.make_graph(nodes, "relu_mul", [x], [y]), opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def _fixed_batch(path: Path) -> Path:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4])
    w = helper.make_tensor("w", TensorProto.FLOAT, [3, 4], np.arange(12, dtype=np.float32) / 10)
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "fixed", [x], [y], [w])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("foreign")
    return {
        "logreg": _skl_logreg(d / "logreg.onnx"),
        "cnn": _torch_cnn(d / "cnn.onnx"),
        "embedding": _torch_embedding(d / "embedding.onnx"),
        "no_matmul": _no_matmul(d / "no_matmul.onnx"),
        "fixed": _fixed_batch(d / "fixed.onnx"),
    }


@pytest.fixture(scope="module")
def cnn_bundle(models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    from irisonnx.cli import main

    out = tmp_path_factory.mktemp("cnn") / "edge"
    code, doc = _edge_json(main, str(models["cnn"]), "--out", str(out), *FAST_EDGE)
    assert code == 0, doc
    return doc, out


def _edge_json(main, *args: str) -> tuple[int, dict | str]:
    """``irisonnx edge ARGS`` in process; (exit code, the JSON document or stderr)."""
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), pytest.raises(SystemExit) as exc:
        main(["edge", *args])
    code = exc.value.code if isinstance(exc.value.code, int) else 1
    return code, (json.loads(out.getvalue()) if code in (0, 1) and out.getvalue() else err.getvalue())


def _session(path: Path) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.log_severity_level = 3
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def _assert_manifest_lists_what_exists(bundle: Path, doc: dict) -> None:
    manifest = json.loads((bundle / "manifest.json").read_text())
    on_disk = sorted(p.name for p in bundle.glob("model.*.onnx"))
    listed = sorted(v["file"] for v in manifest["variants"])
    assert listed == on_disk == sorted(f"model.{v['variant']}.onnx" for v in doc["variants"])
    for name, entry in manifest["files"].items():
        assert hashlib.sha256((bundle / name).read_bytes()).hexdigest() == entry["sha256"], name
    assert set(manifest["files"]) | {"manifest.json"} == {p.name for p in bundle.iterdir()}
    skipped = {s["variant"] for s in manifest["skipped"]}
    assert not skipped & {v["variant"] for v in manifest["variants"]}


# --- edge --------------------------------------------------------------------------------------


def test_skl2onnx_logreg_builds_what_applies_and_skips_the_rest(models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src = onnx.load(models["logreg"])
    # skl2onnx's own quirk that crashed the quantiser (exit 70): the default domain twice
    assert [o.domain for o in src.opset_import].count("") == 2
    code, out, err = cli(capsys, "edge", str(models["logreg"]), "--out", str(tmp_path / "b"), *FAST_EDGE)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["written"] and doc["classifier"] is False and doc["dataset"] is None
    skipped = {s["variant"]: s["reason"] for s in doc["skipped"]}
    assert skipped["int8-dynamic"] == skipped["int8-static"] == INT8_SKIP  # LinearClassifier + Normalizer only
    assert "fp16" in skipped and "LinearClassifier" in skipped["fp16"]
    assert [v["variant"] for v in doc["variants"]] == ["fp32", "fp32-opt"]
    opt = doc["variants"][1]
    names = {c["name"].split(":")[0] for c in opt["checks"]}
    assert names == {"output label", "output probabilities"}  # a gate per output
    label = next(c for c in opt["checks"] if c["name"].startswith("output label"))
    assert "not equal (int64)" in label["name"] and label["passed"]
    _assert_manifest_lists_what_exists(tmp_path / "b", doc)


def test_cnn_int8_and_fp16_are_gated_per_output(cnn_bundle: tuple[dict, Path], models: dict[str, Path]) -> None:
    doc, bundle = cnn_bundle
    assert doc["skipped"] == []
    assert [v["variant"] for v in doc["variants"]] == ["fp32", "fp32-opt", "int8-dynamic", "int8-static", "fp16"]
    assert doc["inputs"]["shapes"] == {"image": [48, 1, 28, 28]}
    _assert_manifest_lists_what_exists(bundle, doc)
    tol = {"int8-dynamic": (0.05, 0.05), "int8-static": (0.05, 0.05), "fp16": (0.01, 0.01), "fp32-opt": (1e-5, 1e-5)}  # the documented defaults
    # The oracle: onnxruntime directly, on images drawn here (not the gate's own), in range.
    x = np.random.default_rng(123).uniform(0, 10, size=(32, 1, 28, 28)).astype(np.float32)
    base = _session(models["cnn"]).run(["logits"], {"image": x})[0]
    for v in doc["variants"][1:]:
        assert v["passed"] and v["checks"], v["variant"]
        assert all(c["name"].startswith("output logits: elements outside atol") for c in v["checks"])
        assert f"atol {tol[v['variant']][0]:g}, rtol {tol[v['variant']][1]:g}" in v["checks"][0]["name"]
        sess = _session(bundle / v["file"])
        assert [(i.name, i.type) for i in sess.get_inputs()] == [("image", "tensor(float)")]  # keep_io_types
        assert [(o.name, o.type) for o in sess.get_outputs()] == [("logits", "tensor(float)")]
        got = sess.run(["logits"], {"image": x})[0]
        atol, rtol = tol[v["variant"]]
        assert np.isclose(got, base, atol=atol, rtol=rtol).all(), v["variant"]
        assert v["batch1_latency_us"] > 0 and v["throughput_rows_s"] > 0
    fp16 = doc["variants"][-1]
    assert any("fp16 arithmetic, onnx reference" in c["name"] for c in fp16["checks"])
    assert any("keep their types" in n for n in fp16["notes"])
    ops = {v["variant"]: v["ops"] for v in doc["variants"]}
    assert "ConvInteger" in ops["int8-dynamic"] or "DynamicQuantizeLinear" in ops["int8-dynamic"]
    assert "QuantizeLinear" in ops["int8-static"]


def test_a_graph_without_matmul_gemm_conv_skips_int8(models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code, out, err = cli(capsys, "edge", str(models["no_matmul"]), "--out", str(tmp_path / "b"), *FAST_EDGE)
    assert code == 0, err
    doc = json.loads(out)
    assert {s["variant"]: s["reason"] for s in doc["skipped"]} == {"int8-dynamic": INT8_SKIP, "int8-static": INT8_SKIP}
    assert [v["variant"] for v in doc["variants"]] == ["fp32", "fp32-opt", "fp16"]
    _assert_manifest_lists_what_exists(tmp_path / "b", doc)
    code, out, _ = cli(capsys, "edge", str(models["no_matmul"]), "--out", str(tmp_path / "t"), "--random-rows", "16", "--bench-rounds", "0")
    assert code == 0 and "skipped (not made for this model):" in out and f"int8-static   {INT8_SKIP}" in out


def test_int64_token_ids_need_their_dim_then_quantise(models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code, _, err = cli(capsys, "edge", str(models["embedding"]), "--out", str(tmp_path / "b"), *FAST_EDGE)
    assert code == 2 and "--dim T=SIZE" in one_error_line(err, 2)
    code, out, err = cli(capsys, "edge", str(models["embedding"]), "--out", str(tmp_path / "b"), "--dim", "T=6", "--input-range", "ids=0,9", *FAST_EDGE)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["inputs"]["shapes"] == {"ids": [48, 6]} and doc["inputs"]["ranges"] == {"ids": [0.0, 9.0]}
    assert doc["skipped"] == [] and all(v["passed"] for v in doc["variants"])
    _assert_manifest_lists_what_exists(tmp_path / "b", doc)
    # the bundle's model takes int64 ids still, and matches fp32 within the int8 gate
    ids = np.random.default_rng(5).integers(0, 10, size=(20, 6), dtype=np.int64)
    base = _session(models["embedding"]).run(None, {"ids": ids})[0]
    got = _session(tmp_path / "b" / "model.int8-static.onnx").run(None, {"ids": ids})[0]
    assert np.isclose(got, base, atol=0.05, rtol=0.05).all()


def test_a_failing_gate_on_a_foreign_model_is_exit_1_with_the_output_named(models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code, out, err = cli(capsys, "edge", str(models["cnn"]), "--out", str(tmp_path / "b"), "--variants", "fp32,int8-dynamic", "--int8-tol", "0,0", *FAST_EDGE)
    assert code == 1 and "output logits: elements outside atol 0, rtol 0" in one_error_line(err, 1)
    assert not (tmp_path / "b").exists()


def test_duplicate_opset_imports_are_normalised_before_quantising(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from onnxruntime.quantization import quantize_dynamic
    from skl2onnx import to_onnx
    from sklearn.datasets import load_iris
    from sklearn.decomposition import PCA

    from irisonnx.edge.variants._ort import normalise_opsets

    x = load_iris(return_X_y=True)[0].astype(np.float32)
    model = to_onnx(PCA(2).fit(x), x[:1])  # Sub + MatMul: something to quantise
    model.opset_import.add(domain="", version=11)  # declared twice, as skl2onnx writes LogisticRegression
    model.opset_import.add(domain="ai.onnx.ml", version=1)
    onnx.checker.check_model(model)  # onnx accepts it ...
    path = tmp_path / "dup.onnx"
    onnx.save(model, path)
    with pytest.raises(ValueError, match="ai.onnx domain"):  # ... onnxruntime's quantiser does not
        quantize_dynamic(str(path), str(tmp_path / "q.onnx"))
    norm = normalise_opsets(model)
    assert sorted((o.domain, o.version) for o in norm.opset_import) == [("", 13), ("ai.onnx.ml", 1)]
    assert len(model.opset_import) == 3  # a copy: the source is untouched
    code, out, err = cli(capsys, "edge", str(path), "--out", str(tmp_path / "b"), "--variants", "fp32,int8-dynamic,int8-static", "--int8-tol", "0.5,0.1", *FAST_EDGE)
    assert code == 0, err
    doc = json.loads(out)
    assert [v["variant"] for v in doc["variants"]] == ["fp32", "int8-dynamic", "int8-static"] and doc["skipped"] == []


def test_a_converter_failure_is_a_skip_with_its_first_line(models: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import irisonnx.edge.variants.int8_dynamic as ev
    from irisonnx.edge.build import build_edge

    def broken(*args, **kwargs):
        raise RuntimeError("quantiser exploded\nTraceback line that must not show")

    monkeypatch.setattr(ev, "_int8_dynamic", broken)
    res = build_edge(models["cnn"], tmp_path / "b", "fp32,int8-dynamic,fp16", n_random=16, bench_rounds=0)
    assert res.written and [v.variant for v in res.variants] == ["fp32", "fp16"]
    assert res.skipped == [{"variant": "int8-dynamic", "reason": "the int8-dynamic converter failed: RuntimeError: quantiser exploded"}]
    assert not (tmp_path / "b" / "model.int8-dynamic.onnx").exists()


def test_web_is_refused_for_a_foreign_model(models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code, out, err = cli(capsys, "edge", str(models["logreg"]), "--out", str(tmp_path / "b"), "--web")
    assert code == 2 and out == ""
    assert "--web is for classifiers" in one_error_line(err, 2)
    assert not (tmp_path / "b").exists()


def test_data_is_refused_for_a_foreign_model(models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code, _, err = cli(capsys, "edge", str(models["cnn"]), "--out", str(tmp_path / "b"), "--data", "iris")
    assert code == 2 and "--data is for classifiers" in one_error_line(err, 2)


def test_calibration_file_by_input_name(models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    cal = tmp_path / "cal.npz"
    np.savez(cal, image=np.random.default_rng(9).uniform(0, 10, size=(32, 1, 28, 28)).astype(np.float32))
    code, out, err = cli(capsys, "edge", str(models["cnn"]), "--out", str(tmp_path / "b"), "--variants", "fp32,int8-static", "--calibration", str(cal), *FAST_EDGE)
    assert code == 0, err
    assert json.loads(out)["inputs"]["calibration"].startswith(str(cal))
    bad = tmp_path / "bad.npz"
    np.savez(bad, pixels=np.zeros((4, 1, 28, 28), np.float32))
    code, _, err = cli(capsys, "edge", str(models["cnn"]), "--out", str(tmp_path / "c"), "--variants", "fp32,int8-static", "--calibration", str(bad), *FAST_EDGE)
    assert code == 2 and "no array for input(s) 'image'" in one_error_line(err, 2)


# --- bench -------------------------------------------------------------------------------------


# no_matmul ([N, 5] float -> [N, 5] float) has a classifier's shape: timed on uniform float32 rows
@pytest.mark.parametrize("name,extra,inputs", [("logreg", [], "generated in-range inputs"), ("cnn", [], "per row image [1, 28, 28]"), ("no_matmul", [], "float32 rows"), ("embedding", ["--dim", "T=4"], "per row ids [4]")])
def test_bench_times_any_model(models: dict[str, Path], name: str, extra: list[str], inputs: str, capsys: pytest.CaptureFixture) -> None:
    code, out, err = cli(capsys, "bench", str(models[name]), "--batch-sizes", "1,16", *extra, *FAST_BENCH)
    assert code == 0, err
    doc = json.loads(out)
    (ort_cpu,) = [r for r in doc["runtimes"] if r["runtime"] == "ort-cpu"]
    lat = ort_cpu["latency_batch1"]
    assert 0 < lat["min_us"] <= lat["p50_us"] <= lat["p99_us"]
    assert [p["batch_size"] for p in ort_cpu["throughput"]] == [1, 16] and all(p["rows_per_s"] > 0 for p in ort_cpu["throughput"])
    assert inputs in doc["settings"]["input"]


def test_bench_times_a_fixed_batch_at_that_batch_only(models: dict[str, Path], capsys: pytest.CaptureFixture) -> None:
    code, out, err = cli(capsys, "bench", str(models["fixed"]), "--batch-sizes", "1,64", *FAST_BENCH)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["settings"]["batch_sizes"] == [2] and "fixed batch of 2" in doc["settings"]["input"]
    (ort_cpu,) = [r for r in doc["runtimes"] if r["runtime"] == "ort-cpu"]
    assert [p["batch_size"] for p in ort_cpu["throughput"]] == [2]
    code, out, _ = cli(capsys, "bench", str(models["fixed"]), *FAST_BENCH[:-1])
    assert code == 0 and "timed at that batch only" in out and "latency at batch 2" in out


def test_fixed_batch_edge_is_fed_at_its_batch(models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code, out, err = cli(capsys, "edge", str(models["fixed"]), "--out", str(tmp_path / "b"), "--random-rows", "7", "--bench-rounds", "1", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["inputs"]["fixed_batch"] == 2 and doc["inputs"]["shapes"] == {"x": [8, 3]}  # 7 rows rounded up to whole batches
    assert doc["inputs"]["batch_modes"] == ["all"]


# --- the bundle's predict.py -------------------------------------------------------------------


def _predict_py(py: str | Path, bundle: Path, *args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(py), str(bundle / "predict.py"), *args], capture_output=True, text=True, timeout=120, env=env, cwd=cwd)


def _check_predict_npz(py: str | Path, bundle: Path, doc: dict, work: Path, env: dict | None = None) -> None:
    x = np.random.default_rng(77).uniform(0, 10, size=(6, 1, 28, 28)).astype(np.float32)
    np.savez(work / "in.npz", image=x)
    for v in doc["variants"]:
        out = work / f"out-{v['variant']}.npz"
        r = _predict_py(py, bundle, "--input", str(work / "in.npz"), "--output", str(out), "--variant", v["variant"], env=env, cwd=work)
        assert r.returncode == 0, r.stderr
        with np.load(out) as z:
            assert z.files == ["logits"]
            want = _session(bundle / v["file"]).run(["logits"], {"image": x})[0]
            assert z["logits"].dtype == np.float32 and np.array_equal(z["logits"], want), v["variant"]
    np.savez(work / "wrong.npz", pixels=x)
    r = _predict_py(py, bundle, "--input", str(work / "wrong.npz"), env=env, cwd=work)
    assert r.returncode == 2 and "image" in r.stderr and "pixels" in r.stderr
    np.savez(work / "rank.npz", image=x[:, 0])
    r = _predict_py(py, bundle, "--input", str(work / "rank.npz"), env=env, cwd=work)
    assert r.returncode == 2 and "rank 4" in r.stderr
    r = _predict_py(py, bundle, "--values", "1,2,3", env=env, cwd=work)
    assert r.returncode == 2 and "not a classifier" in r.stderr
    r = _predict_py(py, bundle, "--input", str(work / "in.npz"), "--json", env=env, cwd=work)
    assert r.returncode == 0 and json.loads(r.stdout)["outputs"]["logits"]["shape"] == [6, 10]


def test_bundle_predict_py_takes_and_writes_npz(cnn_bundle: tuple[dict, Path], tmp_path: Path) -> None:
    doc, bundle = cnn_bundle
    b = tmp_path / "device"
    shutil.copytree(bundle, b)
    labels = json.loads((b / "labels.json").read_text())
    assert labels["classifier"] is False and labels["inputs"] == [{"name": "image", "dtype": "float32", "shape": ["N", 1, 28, 28]}]
    _check_predict_npz(sys.executable, b, doc, tmp_path)


@pytest.mark.slow
def test_bundle_predict_py_npz_in_a_fresh_venv(cnn_bundle: tuple[dict, Path], fresh_venv: Path, tmp_path: Path) -> None:
    doc, bundle = cnn_bundle
    b = tmp_path / "device"
    shutil.copytree(bundle, b)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    probe = subprocess.run([str(fresh_venv), "-c", "import importlib.util as u; print([m for m in ('irisonnx', 'torch', 'onnx', 'click') if u.find_spec(m)])"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert probe.stdout.strip() == "[]", f"the venv must hold only onnxruntime and numpy: {probe.stdout} {probe.stderr}"
    _check_predict_npz(fresh_venv, b, doc, tmp_path, env=env)
