"""The runtime matrix (issue 17, item 5): one row per runtime in the pipeline's summary and the
report, with every family that can run, and the ones that cannot shown with what enables them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import run_cli
from irisonnx.report.matrix import matrix_text, runtime_matrix

LITERT_MISSING = "ai-edge-litert is not installed: pip install 'irisonnx[litert]'"

# Written by hand: what compare.json and bench.json hold for three runtimes and one missing.
COMPARE_DOC = {
    "baseline": "torch",
    "pairs": [
        {
            "runtime": "ort-cpu",
            "passed": True,
            "outputs": [
                {"output": "logits", "max_abs_error": 2e-6, "max_ulp": 10.0, "argmax_agreement": 1.0},
                {"output": "probabilities", "max_abs_error": 5e-7, "max_ulp": 40.0, "argmax_agreement": 0.98},
                {"output": "label", "max_abs_error": None, "max_ulp": None, "argmax_agreement": None},
            ],
        },
    ],
    "runtimes": [
        {"runtime": "torch", "available": True, "reason": "", "info": {"versions": {"torch": "2.13.0"}}},
        {"runtime": "ort-cpu", "available": True, "reason": "", "info": {"versions": {"onnxruntime": "1.32.0"}}},
        {"runtime": "litert", "available": False, "reason": LITERT_MISSING, "info": {}},
    ],
}
BENCH_DOC = {
    "runtimes": [
        {"runtime": "ort-cpu", "available": True, "latency_batch1": {"p50_us": 7.5}, "throughput": [{"rows_per_s": 1e6}, {"rows_per_s": 3e6}, {"rows_per_s": 2e6}]},
        {"runtime": "openvino", "available": True, "info": {"precision": "f32", "route": "read ONNX directly"}, "latency_batch1": {"p50_us": 30.0}, "throughput": [{"rows_per_s": 2e6}]},
    ]
}


def test_matrix_rows_take_the_worst_output_and_the_best_throughput() -> None:
    rows = {r.runtime: r for r in runtime_matrix(COMPARE_DOC, BENCH_DOC)}
    assert list(rows) == ["torch", "ort-cpu", "litert", "openvino"]  # compare's order, then bench-only ones
    assert rows["torch"].status == "baseline" and rows["torch"].max_abs_error == 0.0
    ort = rows["ort-cpu"]
    assert (ort.max_abs_error, ort.max_ulp, ort.argmax_agreement) == (2e-6, 40.0, 0.98)
    assert (ort.latency_p50_us, ort.throughput_rows_s, ort.version) == (7.5, 3e6, "onnxruntime 1.32.0")
    assert rows["litert"].status == "unavailable" and rows["litert"].reason == LITERT_MISSING
    assert rows["openvino"].max_abs_error is None and rows["openvino"].latency_p50_us == 30.0 and rows["openvino"].precision == "f32"
    text = matrix_text(list(rows.values()))
    assert f"litert: {LITERT_MISSING}" in text.splitlines()  # the enabling command in full, never cut
    assert runtime_matrix(None, None) == []


def test_optional_runtimes_are_listed_not_fatal(tiny_run: Path, tmp_path: Path) -> None:
    """The pipeline's families and ort-cuda: compared where they run, listed where they cannot;
    the same runtime named in ``runtimes`` is exit 4 as before."""
    from irisonnx.compare.runner import run_compare
    from irisonnx.errors import RuntimeUnavailable
    from irisonnx.export.export import export_run
    from irisonnx.runtimes.ort_engine import cuda_available

    if cuda_available()[0]:
        pytest.skip("needs a machine without CUDA (ort-cuda must be unavailable)")
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    export_run(run, exporter="torchscript")
    r = run_compare(run, runtimes=["torch", "ort-cpu"], optional=["ort-cuda"], inputs="all")
    st = {s.spec: s for s in r.runtimes}
    assert r.passed and not st["ort-cuda"].available and "onnxruntime-gpu" in st["ort-cuda"].reason and not st["ort-cuda"].explicit
    with pytest.raises(RuntimeUnavailable):
        run_compare(run, runtimes=["torch", "ort-cpu", "ort-cuda"], inputs="all")


def test_pipeline_matrix_and_report_include_every_available_family(tmp_path: Path) -> None:
    pytest.importorskip("openvino")
    pytest.importorskip("ai_edge_litert")
    pytest.importorskip("executorch")
    run = tmp_path / "run"
    r = run_cli("pipeline", "--run", str(run), "--epochs", "20", "--no-web", "--json", cwd=tmp_path, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    doc = json.loads(r.stdout)
    rows = {m["runtime"]: m for m in doc["matrix"]}
    assert {"torch", "ort-cpu", "reference", "openvino", "litert", "executorch"} <= set(rows)
    compare = json.loads((run / "compare.json").read_text())
    for name in ("ort-cpu", "openvino", "litert", "executorch"):
        m = rows[name]
        pair = next(p for p in compare["pairs"] if p["runtime"] == name)
        assert m["status"] == "ran" and m["passed"] is True
        assert m["max_abs_error"] == max(o["max_abs_error"] for o in pair["outputs"]) < 1e-4
        assert m["argmax_agreement"] == 1.0
        assert m["latency_p50_us"] > 0 and m["throughput_rows_s"] > 0, name  # bench timed every family
    assert rows["openvino"]["precision"] == "f32" and rows["executorch"]["route"]
    cuda = rows["ort-cuda"]
    assert cuda["status"] in ("ran", "unavailable") and (cuda["status"] == "ran" or "onnxruntime-gpu" in cuda["reason"])
    html = (run / "report.html").read_text()
    section = html[html.index("<section id='matrix'>") :]
    section = section[: section.index("</table>")]
    for name in ("torch", "ort-cpu", "reference", "ort-cuda", "openvino", "litert", "executorch"):
        assert f"<td>{name}</td>" in section, name
