"""Batch-1 latency of irisonnx's Predictor against a plain onnxruntime ``session.run``, and
1M-row throughput. Same model, same session options (1 intra-op thread for latency).

    python benchmarks/predict_latency.py MODEL_OR_RUN [--calls 20000] [--repeats 7]

Prints medians over ``repeats`` timing loops of ``calls`` calls each. No torch needed.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def per_call_us(fns: dict, calls: int, repeats: int) -> dict:
    """Median µs per call of each function; the timing loops are interleaved (A B C A B C
    ...) so that load from other processes hits every candidate alike."""
    for fn in fns.values():  # warm-up: caches, bindings, branch predictors
        for _ in range(min(calls, 1000)):
            fn()
    runs: dict = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t0 = time.perf_counter_ns()
            for _ in range(calls):
                fn()
            runs[k].append((time.perf_counter_ns() - t0) / calls / 1000)
    return {k: statistics.median(v) for k, v in runs.items()}


def main() -> None:
    import onnxruntime as ort

    from irisonnx.predictor import Predictor

    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--calls", type=int, default=20000)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--rows", type=int, default=1_000_000)
    a = ap.parse_args()

    pred = Predictor(a.model, threads=1)
    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = 1, 1
    sess = ort.InferenceSession(pred.info.data, so, providers=["CPUExecutionProvider"])
    in_name, logits = pred.info.input.name, pred.info.logits_name
    rng = np.random.default_rng(0)
    x1 = rng.uniform(0, 8, size=(1, pred.n_features)).astype(np.float32)  # (1, n_features)
    assert np.array_equal(sess.run([logits], {in_name: x1})[0], pred.predict_logits(x1))

    print(f"model {pred.info.path} ({pred.info.sha256[:12]}…), onnxruntime {ort.__version__}, 1 thread")
    print(f"batch-1 latency, median of {a.repeats} interleaved loops of {a.calls} calls:")
    res = per_call_us(
        {
            f"session.run(['{logits}'], {{...}})": lambda: sess.run([logits], {in_name: x1}),
            "Predictor.predict_logits(x)  (input checked)": lambda: pred.predict_logits(x1),
            "Predictor.run(x, check=False)": lambda: pred.run(x1, (logits,), check=False),
            "Predictor.predict(x)  (labels + probabilities)": lambda: pred.predict(x1),
        },
        a.calls,
        a.repeats,
    )
    for k, v in res.items():
        print(f"  {k:<48} {v:7.2f} µs")

    xb = rng.uniform(0, 8, size=(a.rows, pred.n_features)).astype(np.float32)  # (rows, n_features)
    for threads in (1, None):
        p = Predictor(a.model, threads=threads)
        so = ort.SessionOptions()
        if threads:
            so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
        s = ort.InferenceSession(pred.info.data, so, providers=["CPUExecutionProvider"])
        t_one = min(_timed(lambda: s.run([logits], {in_name: xb})) for _ in range(5))
        t_pred = min(_timed(lambda: p.predict_logits(xb)) for _ in range(5))
        label = f"{threads} thread" if threads else "default threads"
        print(f"{a.rows:,} rows, {label}: session.run one call {a.rows / t_one / 1e6:6.1f} M rows/s; Predictor (16K chunks, checked) {a.rows / t_pred / 1e6:6.1f} M rows/s")


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


if __name__ == "__main__":
    main()
