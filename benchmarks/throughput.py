"""Target 3, throughput on 1M rows: the library call (``Predictor.predict_logits``, chunked,
input checked) and ``irisonnx predict --input big.npy --output out.npy``, at least 1.2x one
plain ``session.run`` over the whole array and at least 2.5x torch eager; the fraction of the
memory-bandwidth limit (~730 M rows/s for 28 bytes a row: 16 in, 12 out) reached.

    python benchmarks/throughput.py [--run RUN] [--rows 1000000] [--repeats 5] [--calls 9] [--threads 0]

Library calls: each candidate runs in a fresh process of its own (3 warm-up calls, then
``--calls`` timed single calls, median), the processes of all candidates alternating, and the
median over ``--repeats`` processes is taken (see isolated() for why not in one process). The
plain session.run is a session with onnxruntime's defaults (its intra-op pool over the
cores), as a user would make it. torch eager runs at its default thread count and at one; the
faster is the baseline. The parent checks first that the Predictor's logits, labels and
probabilities are bitwise those of one plain session.run (and a plain float64 softmax).
The CLI: its marginal throughput is rows / (wall with 1M rows - wall with 1 row), both fresh
processes, so start-up (measured by startup.py) is not counted twice; the end-to-end wall is
also compared with a minimal script that does the same work (load, run, softmax, save).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from _common import BIN, Results, interleaved_wall, median, parser, prepare_run

BANDWIDTH_ROWS_S = 730e6  # measured memory-bandwidth limit for 28 bytes a row (DESIGN.md)

MINIMAL = '''
import sys
import numpy as np
import onnxruntime as ort
sess = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
x = np.load(sys.argv[2])
z = sess.run(None, {sess.get_inputs()[0].name: x})[0].astype(np.float64)
z -= z.max(axis=1, keepdims=True)
np.exp(z, out=z)
z /= z.sum(axis=1, keepdims=True)
np.save(sys.argv[3], z.astype(np.float32))
'''


# One candidate per fresh process: warm-up calls, then timed single calls; prints the seconds.
CHILD = r"""
import json, sys, time
import numpy as np
run, xpath, cand, calls, threads = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
x = np.load(xpath)
if cand == "session.run":
    import onnxruntime as ort
    so = ort.SessionOptions()
    if threads:
        so.intra_op_num_threads = threads
    sess = ort.InferenceSession(run + "/model.onnx", so, providers=["CPUExecutionProvider"])
    feed, names = {sess.get_inputs()[0].name: x}, [sess.get_outputs()[0].name]
    fn = lambda: sess.run(names, feed)
elif cand.startswith("Predictor"):
    from irisonnx.runtimes.ort_engine import Predictor
    pred = Predictor(run, threads=threads or None)
    fn = {"Predictor.predict_logits": lambda: pred.predict_logits(x), "Predictor.predict": lambda: pred.predict(x),
          "Predictor.run(check=False)": lambda: pred.run(x, (pred.info.logits_name,), check=False)}[cand]
else:
    import torch
    from irisonnx.training.run import Run
    torch.set_num_threads(1 if cand.endswith("1 thread") else (threads or torch.get_num_threads()))
    model = Run.open(run).load_model().eval()
    def fn():
        with torch.inference_mode():
            model(torch.from_numpy(x)).numpy()
for _ in range(3):
    fn()
ts = []
for _ in range(calls):
    t0 = time.perf_counter()
    fn()
    ts.append(time.perf_counter() - t0)
print(json.dumps({"seconds": ts, "torch_threads": (torch.get_num_threads() if "torch" in sys.modules else None)}))
"""

CANDIDATES = ("session.run", "Predictor.predict_logits", "Predictor.run(check=False)", "Predictor.predict", "torch eager", "torch eager, 1 thread")


def isolated(run: Path, xpath: Path, processes: int, calls: int, threads: int) -> tuple[dict[str, list[float]], int]:
    """Per candidate, the median call of each of ``processes`` fresh processes, the processes
    of all candidates alternating (A B C ..., then reversed). In one process, onnxruntime's
    intra-op pool kept spinning after a plain session.run and took the cores from whatever
    ran next (Predictor 42 M rows/s right after it, 59 M after a pause, on an idle box):
    a fresh process per candidate measures each as a user would run it."""
    out: dict[str, list[float]] = {k: [] for k in CANDIDATES}
    torch_threads = 0
    for i in range(processes):
        for cand in CANDIDATES if i % 2 == 0 else CANDIDATES[::-1]:
            r = subprocess.run([str(BIN / "python"), "-c", CHILD, str(run), str(xpath), cand, str(calls), str(threads)], capture_output=True, text=True)
            if r.returncode != 0:
                sys.exit(f"benchmark child failed for {cand}: {r.stderr.strip().splitlines()[-1] if r.stderr.strip() else r.returncode}")
            doc = json.loads(r.stdout.strip().splitlines()[-1])
            out[cand].append(median(doc["seconds"]))
            if cand == "torch eager":
                torch_threads = doc["torch_threads"]
    return out, torch_threads


def _softmax64(z: np.ndarray) -> np.ndarray:
    """The CLI's softmax written plainly (float64, max subtracted), for the equality check."""
    z = z.astype(np.float64)
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z.astype(np.float32)


def main() -> None:
    from irisonnx.runtimes.ort_engine import Predictor

    ap = parser(__doc__)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=5, help="fresh processes per candidate")
    ap.add_argument("--calls", type=int, default=9, help="timed calls per process (after 3 warm-up calls)")
    ap.add_argument("--cli-repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=0, help="intra-op threads for onnxruntime and torch (0: onnxruntime's default, torch set to match the cores)")
    a = ap.parse_args()
    run = prepare_run(a.run)

    pred = Predictor(run, threads=a.threads or None)
    import onnxruntime as ort

    # a plain session as a user would make it: onnxruntime's defaults (intra-op pool over the cores)
    sess = ort.InferenceSession(str(run / "model.onnx"), providers=["CPUExecutionProvider"])
    in_name, logits = pred.info.input.name, pred.info.logits_name
    x = np.random.default_rng(0).uniform(0, 8, size=(a.rows, pred.n_features)).astype(np.float32)  # (rows, n_features)
    # the fast paths compute what one plain session.run computes, bit for bit
    plain = sess.run([logits], {in_name: x})[0]
    assert np.array_equal(pred.predict_logits(x), plain)
    labels, probs = pred.predict(x)
    assert np.array_equal(labels, plain.argmax(axis=1)) and np.array_equal(probs, _softmax64(plain))
    del sess

    with tempfile.TemporaryDirectory() as tmp:
        np.save(Path(tmp) / "x.npy", x)
        per_process, torch_default = isolated(run, Path(tmp) / "x.npy", a.repeats, a.calls, a.threads)
    t = {k: median(v) for k, v in per_process.items()}
    rate = {k: a.rows / v for k, v in t.items()}
    spread = {k: f"{a.rows / max(v) / 1e6:.1f}-{a.rows / min(v) / 1e6:.1f}" for k, v in per_process.items()}
    threads = f"{a.threads} thread(s)" if a.threads else f"default threads (Predictor: one worker per core; plain session: onnxruntime's default; torch {torch_default})"
    # the strict torch baseline: whichever thread count was faster here
    best_torch = max(rate["torch eager"], rate["torch eager, 1 thread"])
    res = Results(f"throughput on {a.rows:,} rows, {threads}: median over {a.repeats} fresh processes per candidate (alternating) of each one's median of {a.calls} calls")
    lib = rate["Predictor.predict_logits"]
    res.add("3", "Predictor.predict_logits (chunked, checked)", f"{lib / 1e6:.1f} M rows/s", f"one session.run {rate['session.run'] / 1e6:.1f} M rows/s", lib / rate["session.run"], ">= 1.2x", lib / rate["session.run"] >= 1.2)
    res.add("3", "Predictor.predict_logits (chunked, checked)", f"{lib / 1e6:.1f} M rows/s", f"torch eager, faster of {torch_default} threads and 1: {best_torch / 1e6:.1f} M rows/s", lib / best_torch, ">= 2.5x", lib / best_torch >= 2.5)
    res.add("3", "fraction of the memory-bandwidth limit", f"{lib / 1e6:.1f} M rows/s", "~730 M rows/s (28 bytes/row)", lib / BANDWIDTH_ROWS_S, "report", None)
    pr = rate["Predictor.predict"]
    res.add("3", "Predictor.predict (labels + float64-softmax probabilities)", f"{pr / 1e6:.1f} M rows/s", f"one session.run (logits only) {rate['session.run'] / 1e6:.1f} M rows/s", pr / rate["session.run"], "report", None)
    res.note("spread of the per-process medians (M rows/s): " + "; ".join(f"{k} {v}" for k, v in spread.items()))
    res.note(f"Predictor.run(check=False): {rate['Predictor.run(check=False)'] / 1e6:.1f} M rows/s; torch eager {rate['torch eager'] / 1e6:.1f} M rows/s with {torch_default} threads, {rate['torch eager, 1 thread'] / 1e6:.1f} M with 1")

    # --- the CLI ----------------------------------------------------------------------------
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        np.save(d / "big.npy", x)
        np.save(d / "one.npy", x[:1])
        (d / "minimal.py").write_text(MINIMAL)
        cli, py = str(BIN / "irisonnx"), str(BIN / "python")
        extra = ["--threads", str(a.threads)] if a.threads else []
        cmds = {
            "cli 1M": [cli, "predict", str(run), "--input", str(d / "big.npy"), "--output", str(d / "out.npy"), *extra],
            "cli 1": [cli, "predict", str(run), "--input", str(d / "one.npy"), "--output", str(d / "out1.npy"), *extra],
            "minimal 1M": [py, str(d / "minimal.py"), str(run / "model.onnx"), str(d / "big.npy"), str(d / "outm.npy")],
        }
        w = {k: median(v) for k, v in interleaved_wall(cmds, a.cli_repeats, warmup=1).items()}
        same = np.array_equal(np.load(d / "out.npy"), np.load(d / "outm.npy"))
    marginal = a.rows / max(w["cli 1M"] - w["cli 1"], 1e-9)
    res.add("3", "predict --input big.npy --output out.npy (marginal)", f"{marginal / 1e6:.1f} M rows/s", f"one session.run {rate['session.run'] / 1e6:.1f} M rows/s", marginal / rate["session.run"], ">= 1.2x", marginal / rate["session.run"] >= 1.2)
    res.add("3", "predict --input big.npy --output out.npy (end to end)", f"{w['cli 1M'] * 1e3:.0f} ms", f"minimal script (load, run, softmax, save) {w['minimal 1M'] * 1e3:.0f} ms", w["cli 1M"] / w["minimal 1M"], "report (lower is better)", None)
    res.note(f"CLI walls (median of {a.cli_repeats}): 1M rows {w['cli 1M'] * 1e3:.0f} ms, 1 row {w['cli 1'] * 1e3:.0f} ms; outputs equal to the minimal script's: {same}")
    res.print(a.json_out)


if __name__ == "__main__":
    main()
