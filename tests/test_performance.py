"""The structural half of the performance targets (issue 8); the timed half is benchmarks/.

* what is imported: ``predict`` on a model export vouched for skips onnx, ``bench`` of an
  .onnx file on ort-cpu skips torch (test_no_torch.py and test_cli_help.py cover ``--help``,
  ``predict`` and ``inspect`` without torch);
* the fast path is exact: the Predictor's outputs (batch 1, 64, chunked over worker threads)
  are bitwise equal to one plain ``session.run``; the column-wise softmax equals the textbook one;
* memory stays bounded: the Predictor writes chunks into one preallocated output, and compare
  keeps one chunk per runtime, not every output.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from onnx_helpers import exported_run, external_data_model


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, tiny_run: Path) -> Path:
    return exported_run(tmp_path_factory, tiny_run, "torchscript")[0]


# --- imports -------------------------------------------------------------------------------

PROBE = textwrap.dedent(
    """
    import json, sys
    from irisonnx.cli import main
    try:
        main(sys.argv[1:])
    except SystemExit as exc:
        code = exc.code
    heavy = sorted(m for m in ("torch", "onnx", "onnxruntime", "numpy") if m in sys.modules)
    print("\\nPROBE " + json.dumps({"code": code, "loaded": heavy}))
    """
)


def _probe(*args: str) -> dict:
    r = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=120)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("PROBE ")]
    assert lines, r.stderr
    return json.loads(lines[-1][len("PROBE ") :])


def test_predict_of_a_vouched_model_does_not_import_onnx(run: Path, tmp_path: Path) -> None:
    got = _probe("predict", str(run), "--values", "5.1,3.5,1.4,0.2")
    assert got == {"code": 0, "loaded": ["numpy", "onnxruntime"]}
    # the same bytes without the manifest that vouches for them: the full, onnx-checked path
    bare = tmp_path / "model.onnx"
    shutil.copy(run / "model.onnx", bare)
    got = _probe("predict", str(bare), "--values", "5.1,3.5,1.4,0.2")
    assert got["code"] == 0 and "onnx" in got["loaded"] and "torch" not in got["loaded"]


def test_bench_of_an_onnx_file_on_ort_cpu_does_not_import_torch(run: Path) -> None:
    got = _probe("bench", str(run / "model.onnx"), "--runtimes", "ort-cpu", "--quick", "--batch-sizes", "1,64", "--repeats", "1", "--latency-calls", "10", "--json")
    assert got["code"] == 0 and "torch" not in got["loaded"] and "onnxruntime" in got["loaded"]


# --- the vouched fast path: same model, same checks, nothing unsafe gets through ------------


def test_vouched_model_reads_the_same_signature_and_metadata(run: Path) -> None:
    from irisonnx.modelfile.onnx_io import resolve_model
    from irisonnx.runtimes.ort_engine import Predictor

    full = resolve_model(run)
    fast = Predictor(run).info
    assert fast.proto is None and full.proto is not None  # fast really skipped the onnx parse
    for attr in ("path", "sha256", "data", "inputs", "outputs", "metadata", "n_features", "n_classes", "feature_names", "class_names", "feature_units", "has_irisonnx_metadata", "manifest_entry", "export_record"):
        assert getattr(fast, attr) == getattr(full, attr), attr


def _forge_manifest(run: Path) -> None:
    """Make the manifest vouch for whatever model.onnx now holds (as an attacker could)."""
    from irisonnx.storage import sha256_file

    m = json.loads((run / "manifest.json").read_text())
    m["files"]["model.onnx"].update(sha256=sha256_file(run / "model.onnx"), size=(run / "model.onnx").stat().st_size, validated=True)
    (run / "manifest.json").write_text(json.dumps(m))


def test_vouched_path_is_only_taken_for_the_exact_validated_bytes(run: Path, tmp_path: Path) -> None:
    from irisonnx.errors import ArtifactError
    from irisonnx.modelfile.onnx_io import vouched_model
    from irisonnx.runtimes.ort_engine import Predictor

    assert vouched_model(run) is not None and vouched_model(run / "model.onnx") is not None
    r = shutil.copytree(run, tmp_path / "r")
    m = json.loads((r / "manifest.json").read_text())
    m["files"]["model.onnx"]["validated"] = False
    (r / "manifest.json").write_text(json.dumps(m))
    assert vouched_model(r) is None  # unvalidated: the full path decides (and refuses)
    with pytest.raises(ArtifactError, match="failed its parity check"):
        Predictor(r)
    _forge_manifest(r)
    blob = bytearray((r / "model.onnx").read_bytes())
    blob[-1] ^= 1
    (r / "model.onnx").write_bytes(bytes(blob))
    assert vouched_model(r) is None  # sha256 no longer matches: the full path reports tampering
    with pytest.raises(ArtifactError, match="corrupt or was modified"):
        Predictor(r)


def test_external_data_is_never_vouched_for_even_with_a_forged_manifest(run: Path, tmp_path: Path) -> None:
    from irisonnx.errors import ArtifactError
    from irisonnx.modelfile.onnx_io import vouched_model
    from irisonnx.runtimes.ort_engine import Predictor

    r = shutil.copytree(run, tmp_path / "r")
    (r / "model.onnx").unlink()
    external_data_model(run / "model.onnx", r, "../outside.bin", payload_path=tmp_path / "outside.bin")
    _forge_manifest(r)
    assert vouched_model(r) is None  # the bytes name a 'location': only the full check may pass them
    with pytest.raises(ArtifactError, match="outside its folder"):
        Predictor(r)


# --- exactness of the fast paths ---------------------------------------------------------


def _bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a).view(np.uint8)


@pytest.mark.parametrize("rows", [1, 64, 100_003])
def test_predictor_is_bitwise_equal_to_plain_session_run(run: Path, rows: int) -> None:
    import onnxruntime as ort

    from irisonnx.runtimes.ort_engine import Predictor

    plain = ort.InferenceSession(str(run / "model.onnx"), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(rows).uniform(-20, 20, size=(rows, 4)).astype(np.float32)  # (rows, 4)
    want = plain.run(None, {"features": x})[0]
    # small chunks and several workers, so a large batch really is split and shared out
    for pred in (Predictor(run, threads=1), Predictor(run, threads=3, chunk_rows=4096)):
        got = pred.predict_logits(x)
        assert got.shape == want.shape and np.array_equal(_bits(got), _bits(want))
        again = pred.run(x, check=False)["logits"]  # cached binding / reused pool: same again
        assert np.array_equal(_bits(again), _bits(want))


@pytest.mark.parametrize("rows", [1, 256, 257, 100_003])
def test_predict_labels_and_probabilities_are_bitwise_plain_session_run_plus_softmax(run: Path, rows: int) -> None:
    """predict() computes softmax and argmax inside the chunk workers (for more than 256 rows):
    bitwise what one plain session.run plus a textbook float64 softmax and argmax give."""
    import onnxruntime as ort

    from irisonnx.runtimes.ort_engine import Predictor

    plain = ort.InferenceSession(str(run / "model.onnx"), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(rows).uniform(-50, 50, size=(rows, 4)).astype(np.float32)  # (rows, 4)
    logits = plain.run(None, {"features": x})[0]
    z = logits.astype(np.float64)
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    for pred in (Predictor(run, threads=1), Predictor(run, threads=3, chunk_rows=4096)):
        for _ in range(2):  # the second call reuses the pool and nothing leaks between calls
            labels, probs = pred.predict(x)
            assert labels.dtype == np.int64 and np.array_equal(labels, logits.argmax(axis=1))
            assert probs.dtype == np.float32 and np.array_equal(_bits(probs), _bits(z.astype(np.float32)))


def test_predict_on_many_rows_allocates_only_its_outputs(run: Path) -> None:
    from irisonnx.runtimes.ort_engine import Predictor

    pred = Predictor(run, threads=2, chunk_rows=2048)
    x = np.random.default_rng(1).uniform(0, 8, size=(200_000, 4)).astype(np.float32)
    pred.predict(x)
    peak = _numpy_peak(lambda: pred.predict(x))
    # probabilities (float32) and labels (int64), the finite check's mask, and per-worker
    # scratch of a few chunks; whole-array logits or float64 copies (4.8 MB) would exceed it
    assert peak <= 200_000 * (3 * 4 + 8) + x.size + 2 * 2048 * 3 * 16 + 256 * 1024, peak


def test_softmax_is_bitwise_the_textbook_one() -> None:
    from irisonnx.runtimes.ort_engine import softmax

    rng = np.random.default_rng(0)
    for n_classes in (2, 3, 7, 11):
        logits = (rng.standard_normal((5000, n_classes)) * rng.choice([1.0, 30.0, 1e4], size=(5000, 1))).astype(np.float32)
        z = logits.astype(np.float64)
        z -= z.max(axis=1, keepdims=True)
        np.exp(z, out=z)
        z /= z.sum(axis=1, keepdims=True)
        assert np.array_equal(_bits(softmax(logits)), _bits(z.astype(np.float32)))


# --- bounded memory ----------------------------------------------------------------------


def _numpy_peak(fn) -> int:
    """Peak bytes allocated through Python's and numpy's allocators while ``fn`` runs."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        fn()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def test_predictor_writes_chunks_into_one_preallocated_output(run: Path) -> None:
    from irisonnx.runtimes.ort_engine import Predictor

    pred = Predictor(run, threads=2, chunk_rows=2048)
    x = np.random.default_rng(1).uniform(0, 8, size=(200_000, 4)).astype(np.float32)
    pred.predict_logits(x)  # pool threads and bindings exist before measuring
    out_bytes = 200_000 * 3 * 4
    peak = _numpy_peak(lambda: pred.predict_logits(x))
    # the output, the finite-check's boolean mask (one byte a value) and small change; a copy
    # of the input (3.2 MB) or per-chunk outputs gathered and concatenated would exceed it
    assert peak <= out_bytes + x.size + 256 * 1024, peak


def test_compare_memory_follows_the_chunk_not_the_row_count(run: Path, tmp_path: Path) -> None:
    from irisonnx.compare.runner import run_compare

    n, batch = 200_000, 1000
    rows = tmp_path / "rows.npy"
    np.save(rows, np.random.default_rng(2).uniform(0, 8, size=(n, 4)).astype(np.float32))
    seen: list[tuple[int, int]] = []

    def progress(done: int, total: int) -> None:
        # Measure the streaming itself: from the end of the first chunk (inputs loaded,
        # sessions made) to the end of the last one.
        if not seen:
            tracemalloc.reset_peak()
        seen.append(tracemalloc.get_traced_memory())

    tracemalloc.start()
    try:
        run_compare(run / "model.onnx", runtimes=["ort-cpu", "ort-cpu:O0"], inputs=str(rows), batch_size=batch, progress=progress)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(seen) == n // batch
    base = seen[0][0]
    # Keeping every chunk's outputs would grow by 2 runtimes x n x 3 x 4 bytes = 4.8 MB over
    # the run; streaming holds one chunk per runtime plus the comparison's temporaries.
    assert peak - base <= 1_000_000, (peak, base)
    assert seen[-1][0] - base <= 200_000, (seen[-1][0], base)  # and nothing accumulates


# --- compare at scale: the faster statistics and inputs are the same numbers -------------


def _random_rows_whole(n: int, lo: list[float], hi: list[float], seed: int) -> np.ndarray:
    """random_rows as one whole-array formula (what it was before it was streamed)."""
    lo_a, hi_a = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
    span = np.maximum(hi_a - lo_a, 1e-3)
    f = lo_a.shape[0]
    probes = np.stack([np.zeros(f), lo_a, hi_a, (lo_a + hi_a) / 2, 10 * hi_a, -10 * hi_a, np.full(f, 1e6), np.full(f, -1e6), np.full(f, 1e-30), np.full(f, -1e-30)])
    rng = np.random.default_rng(seed)
    m = max(n - len(probes), 0)
    n_in, n_out = m // 2, m // 4
    n_log = m - n_in - n_out
    inside = rng.uniform(lo_a, hi_a, size=(n_in, f))
    beyond = rng.uniform(lo_a - 3 * span, hi_a + 3 * span, size=(n_out, f))
    logmag = 10.0 ** rng.uniform(-6, 6, size=(n_log, f)) * rng.choice([-1.0, 1.0], size=(n_log, f))
    return np.concatenate([probes, inside, beyond, logmag])[:n].astype(np.float32)


def test_streamed_random_rows_are_the_whole_array_formulas_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    import irisonnx.compare.inputs as inputs

    for gen_rows in (2, 7, 64, inputs._GEN_ROWS):
        monkeypatch.setattr(inputs, "_GEN_ROWS", gen_rows)
        for n, f, seed in ((1, 4, 0), (10, 4, 0), (11, 3, 1), (13, 5, 2), (1001, 4, 3), (4099, 1, 4)):
            lo, hi = list(np.linspace(0, 1, f)), list(np.linspace(2, 9, f))
            assert np.array_equal(_bits(inputs.random_rows(n, lo, hi, seed)), _bits(_random_rows_whole(n, lo, hi, seed))), (gen_rows, n, f)


def test_finite_fast_path_gives_the_general_paths_statistics() -> None:
    from irisonnx.compare.stats import PairStats, Tolerance

    rng = np.random.default_rng(0)
    b = (rng.standard_normal((4000, 3)) * 5).astype(np.float32)
    a = (b + rng.standard_normal(b.shape).astype(np.float32) * 1e-6).astype(np.float32)
    a2, b2 = a.copy(), b.copy()
    b2[:100] = 0  # relative error against a zero baseline: inf
    a2[:50] = 0  # 0 vs 0: relative error 0, not 0/0
    a2[50:60] = -0.0
    b2[200:300] = a2[200:300]  # bitwise equal rows
    tiny = np.full((10, 3), 1e-45, np.float32)  # subnormals either side of zero
    cases = [(a, b), (a2, b2), (np.zeros((10, 3), np.float32), -np.zeros((10, 3), np.float32)), (tiny, -tiny), (a.astype(np.float16), b.astype(np.float16))]
    for tol in (Tolerance(), Tolerance(mode="exact"), Tolerance(mode="ulp", max_ulp=3), Tolerance(atol=0.0, rtol=1e-7)):
        for x, y in cases:
            fast, general = PairStats("r", "b", tol), PairStats("r", "b", tol)
            general._all_finite = lambda a, b: False  # type: ignore[method-assign]
            for i in range(3):  # several chunks: the streamed sums and maxima too
                fast.update("logits", x, y, i * len(x))
                general.update("logits", x, y, i * len(x))
            assert fast.to_dict() == general.to_dict(), (tol, x.dtype)


def test_row_max_and_top_rows_match_the_plain_reduction() -> None:
    from irisonnx.compare.runner import _row_max

    d = np.abs(np.random.default_rng(5).standard_normal((1000, 3)))
    assert np.array_equal(_row_max(d), d.max(axis=1))
    wide = np.abs(np.random.default_rng(6).standard_normal((50, 40)))
    assert np.array_equal(_row_max(wide), wide.max(axis=1))


def test_torch_runtime_runs_on_one_thread_and_gives_the_callers_back(run: Path) -> None:
    import torch

    from irisonnx.training.run import Run
    from irisonnx.runtimes import RuntimeContext, create

    before = torch.get_num_threads()
    rt = create("torch", RuntimeContext(run=Run.open(run)))
    rt.activate()
    assert torch.get_num_threads() == 1
    rt.deactivate()
    assert torch.get_num_threads() == before


def test_reading_a_small_model_does_not_allocate_the_size_limit(tmp_path: Path) -> None:
    """read_model_bytes asks for the file's size, not the 256 MiB limit (read(n) allocates n
    up front); a file larger than the limit is still refused."""
    from irisonnx.errors import ArtifactError
    from irisonnx.modelfile.onnx_io import read_model_bytes

    f = tmp_path / "m.onnx"
    f.write_bytes(b"\x08\x07" * 2000)
    tracemalloc.start()
    try:
        data = read_model_bytes(f)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert data == f.read_bytes()
    assert peak < 1 << 20, peak
    with pytest.raises(ArtifactError, match="too large"):
        read_model_bytes(f, max_bytes=3999)
