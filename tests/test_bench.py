"""irisonnx bench: the shape of what it reports, and its errors. No timed assertions: the
numbers depend on the machine; only their structure and ordering are checked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from onnx_helpers import cli, exported_run, one_error_line

# Small and quick: the tests check structure, not speed.
FAST = ["--quick", "--repeats", "2", "--warmup", "1", "--latency-calls", "40"]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, tiny_run: Path) -> Path:
    return exported_run(tmp_path_factory, tiny_run, "torchscript")[0]


def _bench(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    return cli(capsys, "bench", *args)


def test_json_document_for_torch_and_ort(capsys: pytest.CaptureFixture, run: Path) -> None:
    code, out, err = _bench(capsys, str(run), "--runtimes", "torch,ort-cpu", "--batch-sizes", "1,64,300", "--threads", "1", "--json", *FAST)
    assert code == 0, err
    doc = json.loads(out)  # --json: one JSON document on stdout and nothing else there
    assert doc["model_sha256"] and doc["model"].endswith("model.onnx")
    s = doc["settings"]
    assert s["batch_sizes"] == [1, 64, 300] and s["repeats"] == 2 and s["warmup_calls"] == 1 and s["latency_calls"] == 40
    assert s["threads"] == 1 and s["quick"] is True and "seed 0" in s["input"]
    m = doc["machine"]
    assert m["cpu"] and m["logical_cores"] >= 1 and m["usable_cores"] >= 1
    for lib in ("irisonnx", "python", "onnxruntime", "onnx", "numpy", "torch"):
        assert lib in m["versions"]
    assert [r["runtime"] for r in doc["runtimes"]] == ["torch", "ort-cpu"]
    for r in doc["runtimes"]:
        assert r["available"] and r["requested"] and r["threads"].startswith("1 ")
        lat = r["latency_batch1"]
        assert lat["calls"] == 40
        assert 0 < lat["min_us"] <= lat["p50_us"] <= lat["p90_us"] <= lat["p99_us"]
        assert [p["batch_size"] for p in r["throughput"]] == [1, 64, 300]
        for p in r["throughput"]:
            assert p["repeats"] == 2 and p["calls_per_repeat"] >= 1
            assert 0 < p["rows_per_s_min"] <= p["rows_per_s"] <= p["rows_per_s_max"]
    ort = doc["runtimes"][1]
    assert ort["info"]["providers"] == ["CPUExecutionProvider"] and ort["info"]["threads"] == 1


def test_default_runtimes_list_cuda_as_unavailable_on_a_cpu_box(capsys: pytest.CaptureFixture, run: Path) -> None:
    from irisonnx.runtimes.ort_engine import cuda_available

    if cuda_available()[0]:
        pytest.skip("this machine has CUDA")
    code, out, err = _bench(capsys, str(run), "--batch-sizes", "1,64", *FAST)
    assert code == 0, err
    assert "latency at batch 1" in out and "throughput" in out and "machine" in out and "versions" in out
    lines = {ln.split()[0]: ln for ln in out.splitlines() if ln.startswith("  ") and ln.split()}
    assert "torch" in lines and "ort-cpu" in lines
    assert "unavailable: ort-cuda (" in out


def test_an_onnx_file_such_as_an_edge_variant(capsys: pytest.CaptureFixture, run: Path) -> None:
    code, out, err = _bench(capsys, str(run / "model.onnx"), "--batch-sizes", "1,257", "--json", *FAST)
    assert code == 0, err
    doc = json.loads(out)
    ran = [r["runtime"] for r in doc["runtimes"] if r["available"]]
    assert ran == ["ort-cpu"]  # no torch weights beside a bare model file: torch is not a default


@pytest.mark.parametrize(
    "flags,needle",
    [
        (["--batch-sizes", "0,64"], "--batch-sizes"),
        (["--batch-sizes", "1,x"], "--batch-sizes"),
        (["--batch-sizes", "64,64"], "listed twice"),
        (["--repeats", "0"], "--repeats"),
        (["--warmup", "-1"], "--warmup"),
        (["--threads", "0"], "--threads"),
        (["--latency-calls", "0"], "latency"),
        (["--runtimes", "tensorrt"], "unknown runtime 'tensorrt'"),
        (["--runtimes", "ort-cpu,ort-cpu"], "listed twice"),
        (["--runtimes", ","], "--runtimes"),
    ],
)
def test_bad_flags_exit_2(capsys: pytest.CaptureFixture, run: Path, flags: list[str], needle: str) -> None:
    code, out, err = _bench(capsys, str(run), *flags)
    assert code == 2, (flags, err)
    assert needle in err and "Traceback" not in err and out == ""


def test_missing_target_exits_2(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    code, _, err = _bench(capsys, str(tmp_path / "nope"), "--quick")
    assert code == 2 and "no such run folder or model file" in one_error_line(err)


def test_cuda_asked_for_on_a_cpu_box_exits_4(capsys: pytest.CaptureFixture, run: Path) -> None:
    from irisonnx.runtimes.ort_engine import cuda_available

    if cuda_available()[0]:
        pytest.skip("this machine has CUDA")
    code, out, err = _bench(capsys, str(run), "--runtimes", "ort-cpu,ort-cuda", "--json", *FAST)
    assert code == 4 and out == ""
    line = one_error_line(err)
    assert "runtime ort-cuda unavailable" in line and "onnxruntime-gpu" in line


def test_torch_asked_for_on_a_bare_model_exits_4(capsys: pytest.CaptureFixture, run: Path) -> None:
    code, _, err = _bench(capsys, str(run / "model.onnx"), "--runtimes", "torch", *FAST)
    assert code == 4 and "needs a run folder" in one_error_line(err)


def test_library_call_and_quick_defaults(run: Path) -> None:
    from irisonnx.bench import QUICK_BATCH_SIZES, BenchSettings, run_bench

    s = BenchSettings.make(quick=True, repeats=2, latency_calls=30)
    assert s.batch_sizes == QUICK_BATCH_SIZES and 1_000_000 not in s.batch_sizes and s.warmup == 2
    res = run_bench(run / "model.onnx", runtimes=["ort-cpu:O0"], settings=BenchSettings.make(quick=True, batch_sizes=(1, 8), repeats=2, latency_calls=30))
    d = res.to_dict()
    assert d["runtimes"][0]["runtime"] == "ort-cpu:O0" and d["runtimes"][0]["info"]["graph_optimization"] == "disable"
    assert json.loads(json.dumps(d)) == d  # plain data all the way down


@pytest.fixture(scope="module")
def with_edge(tmp_path_factory: pytest.TempPathFactory, run: Path) -> Path:
    """A copy of the run with a two-variant edge bundle (no edge benchmark: quick)."""
    import shutil

    from irisonnx.edge.build import build_edge

    copy = tmp_path_factory.mktemp("bench-edge") / "run"
    shutil.copytree(run, copy)
    build_edge(copy, variants=["fp32", "int8-dynamic"], bench_rounds=0)
    return copy


def test_edge_variants_are_timed_beside_the_other_runtimes(capsys: pytest.CaptureFixture, with_edge: Path) -> None:
    code, out, err = _bench(capsys, str(with_edge), "--runtimes", "ort-cpu", "--variants", "all", "--batch-sizes", "1,300", "--json", *FAST)
    assert code == 0, err
    doc = json.loads(out)
    by = {r["runtime"]: r for r in doc["runtimes"]}
    assert list(by) == ["ort-cpu", "edge:fp32", "edge:int8-dynamic"]
    man = json.loads((with_edge / "edge" / "manifest.json").read_text())
    files = {v["variant"]: v["file"] for v in man["variants"]}
    for name in ("fp32", "int8-dynamic"):
        r = by[f"edge:{name}"]
        assert r["available"] and r["info"]["model"].endswith(files[name]), r["info"]
        assert r["latency_batch1"]["p50_us"] > 0 and [p["batch_size"] for p in r["throughput"]] == [1, 300]
    code, out, err = _bench(capsys, str(with_edge), "--runtimes", "ort-cpu", "--variants", "int8-dynamic", *FAST)
    assert code == 0 and "edge:int8-dynamic" in out and "edge:fp32" not in out, err


def test_bad_variants(capsys: pytest.CaptureFixture, run: Path, with_edge: Path, tmp_path: Path) -> None:
    import shutil

    code, _, err = _bench(capsys, str(run), "--variants", "fp32", *FAST)  # no edge bundle
    assert code == 2 and "no edge bundle" in one_error_line(err) and "irisonnx edge" in err
    code, _, err = _bench(capsys, str(with_edge), "--variants", "int4", *FAST)
    assert code == 2 and "no such variant in the edge bundle: int4" in one_error_line(err) and "int8-dynamic" in err
    code, _, err = _bench(capsys, str(with_edge / "model.onnx"), "--variants", "fp32", *FAST)
    assert code == 2 and "--variants needs a run folder" in one_error_line(err)
    tampered = tmp_path / "run"
    shutil.copytree(with_edge, tampered)
    f = next((tampered / "edge").glob("*int8*.onnx"))
    f.write_bytes(f.read_bytes() + b"\0")
    code, _, err = _bench(capsys, str(tampered), "--variants", "int8-dynamic", *FAST)
    assert code == 3 and "edge variant int8-dynamic is missing or was modified" in one_error_line(err)
