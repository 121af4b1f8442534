"""compare end to end: the engine must pass what agrees and fail what does not."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from conftest import run_cli
from irisonnx.compare.stats import Tolerance
from irisonnx.compare.runner import run_compare
from irisonnx.errors import RuntimeUnavailable, UsageError, ArtifactError


@pytest.fixture(scope="module")
def exported(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from irisonnx.export.export import export_run

    run = tmp_path_factory.mktemp("cmp") / "run"
    shutil.copytree(tiny_run, run)
    export_run(run, exporter="torchscript")
    return run


def _edited(src: Path, dst: Path, edit) -> Path:
    """Copy of the model with one initializer edited by ``edit(name, array) -> array | None``."""
    m = onnx.load(str(src))
    for init in m.graph.initializer:
        arr = numpy_helper.to_array(init)
        new = edit(init.name, arr)
        if new is not None:
            init.CopyFrom(numpy_helper.from_array(new.astype(arr.dtype), init.name))
    onnx.save(m, str(dst))
    return dst


def _gemm_weights(model_path: Path) -> list[str]:
    """Initializer names of the Gemm/MatMul weight matrices, in graph order."""
    m = onnx.load(str(model_path))
    inits = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    names = []
    for n in m.graph.node:
        if n.op_type in ("Gemm", "MatMul"):
            names += [i for i in n.input if i in inits and inits[i].ndim == 2]
    return names


def test_torch_ort_reference_agree_on_test_split(exported: Path) -> None:
    res = run_compare(exported, runtimes=["torch", "ort-cpu", "reference"])
    assert res.passed
    assert res.baseline == "torch"
    names = {p.runtime for p in res.pairs}
    assert names == {"ort-cpu", "reference"}
    for p in res.pairs:
        s = p.outputs["logits"]
        assert s.n_elements == 30 * 3
        assert s.max_abs <= 1e-5
        assert s.argmax_agreement == 1.0
    ran = {r.spec: r for r in res.runtimes}
    assert ran["ort-cpu"].info["providers"] == ["CPUExecutionProvider"]


def test_model_against_itself_is_exact(exported: Path, tmp_path: Path) -> None:
    r = run_cli("compare", str(exported / "model.onnx"), "--runtimes", "ort-cpu,ort-cpu:O3", "--exact", "--inputs", "random:500")
    assert r.returncode == 0, r.stderr
    assert "PASS" in r.stdout
    # and through a golden set: saved outputs replayed against a fresh run
    g = tmp_path / "golden"
    r = run_cli("compare", str(exported / "model.onnx"), "--runtimes", "ort-cpu,reference", "--save-io", str(g), "--inputs", "random:300")
    assert r.returncode == 0, r.stderr
    idx = json.loads((g / "index.json").read_text())
    assert idx["format"] == "irisonnx-golden/2" and idx["inputs"]["tensors"]["features"][0]["shape"] == [300, 4] and set(idx["runtimes"]) == {"ort-cpu", "reference"}
    r = run_cli("compare", str(exported / "model.onnx"), "--runtimes", "ort-cpu", "--load-io", str(g), "--exact", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["baseline"] == "golden" and doc["n_rows"] == 300 and doc["pairs"][0]["outputs"][0]["exact"] is True


def test_one_ulp_weight_change(exported: Path, tmp_path: Path) -> None:
    """One weight moved by 1 ULP: exact fails, 4 ULP and atol 1e-4 pass."""
    src = exported / "model.onnx"
    g = tmp_path / "golden"
    # golden outputs of the original model on the test split (moderate values, no cancellation games)
    assert run_cli("compare", str(exported), "--runtimes", "ort-cpu,reference", "--save-io", str(g)).returncode == 0
    last_w = _gemm_weights(src)[-1]

    def bump(name: str, arr: np.ndarray):
        if name != last_w:
            return None
        out = arr.copy()
        i = np.unravel_index(np.argmax(np.abs(out)), out.shape)  # a large weight: its ULP dominates
        out[i] = np.nextafter(out[i], np.float32(np.inf))
        return out

    edited = _edited(src, tmp_path / "ulp.onnx", bump)
    base = ["compare", str(edited), "--runtimes", "ort-cpu", "--load-io", str(g), "--baseline", "golden:ort-cpu"]
    r = run_cli(*base, "--exact")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "FAIL" in r.stdout
    r = run_cli(*base, "--max-ulp", "4")
    assert r.returncode == 0, r.stdout + r.stderr
    r = run_cli(*base, "--atol", "1e-4")
    assert r.returncode == 0, r.stdout + r.stderr


def test_broken_second_layer_fails_every_mode_and_locate_names_it(exported: Path, tmp_path: Path) -> None:
    src = exported / "model.onnx"
    second = _gemm_weights(src)[1]

    def shift(name: str, arr: np.ndarray):
        if name != second:
            return None
        out = arr.copy()
        out.flat[0] += 0.5
        return out

    bad = _edited(src, tmp_path / "bad.onnx", shift)
    for mode in (["--exact"], ["--max-ulp", "1000"], ["--atol", "1e-3", "--rtol", "1e-3"], ["--argmax", "--atol", "10"]):
        r = run_cli("compare", str(exported), "--model", str(bad), "--runtimes", "torch,ort-cpu", "--inputs", "all", *mode)
        if mode[0] == "--argmax":
            # a 0.5 shift may or may not flip a class; the argmax figure must be reported either way
            assert "argmax" in r.stdout
            continue
        assert r.returncode == 1, (mode, r.stdout, r.stderr)
        assert "not the run's exported model.onnx" in r.stdout
    res = run_compare(exported, model=bad, runtimes=["torch", "ort-cpu"], inputs="all", locate=True)
    assert not res.passed
    loc = res.location[0]
    fd = loc["first_divergence"]
    assert fd is not None
    assert fd["op_type"] in ("Gemm", "MatMul")
    assert second in fd["inputs"], fd
    # the first Linear matched and passed before it
    assert loc["trail"][0]["passed"] and loc["trail"][0]["op_type"] in ("Gemm", "MatMul")
    # ONNX vs ONNX too: reference on the good model vs ort-cpu on the bad one, through --locate
    r = run_cli("compare", str(exported), "--model", str(bad), "--runtimes", "torch,ort-cpu", "--locate")
    assert r.returncode == 1
    assert "first divergence at node" in r.stdout


def test_tampered_run_model_is_refused(exported: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(exported, run)
    blob = bytearray((run / "model.onnx").read_bytes())
    blob[-5] ^= 0x01
    (run / "model.onnx").write_bytes(bytes(blob))
    with pytest.raises(ArtifactError):
        run_compare(run, runtimes=["torch", "ort-cpu"])
    r = run_cli("compare", str(run))
    assert r.returncode == 3 and r.stderr.startswith("irisonnx: error:") and "Traceback" not in r.stderr


def test_unavailable_runtimes(exported: Path) -> None:
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this machine has CUDA")
    # by default ort-cuda is listed as unavailable and skipped
    res = run_compare(exported)
    cuda = [r for r in res.runtimes if r.spec == "ort-cuda"][0]
    assert not cuda.available and "onnxruntime-gpu" in cuda.reason
    # asked for explicitly it is an error, exit 4
    with pytest.raises(RuntimeUnavailable, match="ort-cuda"):
        run_compare(exported, runtimes=["torch", "ort-cuda"])
    r = run_cli("compare", str(exported), "--runtimes", "torch,ort-cuda")
    assert r.returncode == 4 and "unavailable" in r.stderr


def test_reference_refuses_contrib_ops_cleanly(exported: Path, tmp_path: Path) -> None:
    m = onnx.load(str(exported / "model.onnx"))
    m.graph.node[-1].domain = "com.microsoft"
    m.opset_import.append(onnx.helper.make_opsetid("com.microsoft", 1))
    p = tmp_path / "contrib.onnx"
    onnx.save(m, str(p))
    with pytest.raises(RuntimeUnavailable, match="com.microsoft"):
        run_compare(p, runtimes=["ort-cpu", "reference"], inputs="random:10")


def test_inputs_modes_and_bad_usage(exported: Path, tmp_path: Path) -> None:
    res = run_compare(exported, runtimes=["torch", "ort-cpu"], inputs="random:2000", batch_size=300)
    assert res.n_rows == 2000 and res.passed
    assert res.pairs[0].outputs["logits"].n_elements == 6000
    x = np.random.default_rng(0).uniform(0, 8, size=(7, 4)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    assert run_compare(exported, runtimes=["torch", "ort-cpu"], inputs=str(tmp_path / "x.npy")).n_rows == 7
    with pytest.raises(UsageError, match="unknown runtime"):
        run_compare(exported, runtimes=["tensorrt"])
    with pytest.raises(UsageError, match="bad --inputs"):
        run_compare(exported, inputs="random:x")
    r = run_cli("compare", str(exported), "--exact", "--max-ulp", "3")
    assert r.returncode == 2 and "exclude" in r.stderr


def test_json_and_report(exported: Path, tmp_path: Path) -> None:
    rep = tmp_path / "cmp.md"
    r = run_cli("compare", str(exported), "--runtimes", "torch,ort-cpu,reference", "--json", "--report", str(rep))
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)  # stdout holds one JSON document and nothing else
    assert doc["passed"] is True and doc["baseline"] == "torch"
    out = doc["pairs"][0]["outputs"][0]
    for key in ("max_abs_error", "max_rel_error", "mean_abs_error", "max_ulp", "n_out_of_tolerance", "frac_out_of_tolerance", "argmax_agreement", "worst", "histogram"):
        assert key in out
    assert sum(out["histogram"].values()) == out["n_elements"]
    text = rep.read_text()
    assert "| ort-cpu | logits |" in text and "PASS" in text
    html = tmp_path / "cmp.html"
    assert run_cli("compare", str(exported), "--runtimes", "torch,ort-cpu", "--report", str(html)).returncode == 0
    assert html.read_text().startswith("<!doctype html>")


def test_tolerance_for_an_output_the_model_lacks_is_refused(exported: Path) -> None:
    with pytest.raises(UsageError, match="unknown output"):
        run_compare(exported, runtimes=["torch", "ort-cpu"], tolerance=Tolerance(per_output={"probs": (1e-3, 0.0)}))
    assert run_compare(exported, runtimes=["torch", "ort-cpu"], tolerance=Tolerance(per_output={"logits": (1e-3, 0.0)})).passed
