"""Target 3, throughput on 1M rows: the library call (``Predictor.predict_logits``, chunked,
input checked) and ``irisonnx predict --input big.npy --output out.npy``, at least 1.2x one
plain ``session.run`` over the whole array and at least 2.5x torch eager; the fraction of the
memory-bandwidth limit (~730 M rows/s for 28 bytes a row: 16 in, 12 out) reached.

    python benchmarks/throughput.py [--run RUN] [--rows 1000000] [--repeats 9] [--threads 0]

In process: single calls, interleaved, medians. The plain session.run is a separate session
with onnxruntime's defaults (its intra-op pool over the cores), as a user would make it. torch
eager runs at its default thread count and at one; the faster is the baseline.
The CLI: its marginal throughput is rows / (wall with 1M rows - wall with 1 row), both fresh
processes, so start-up (measured by startup.py) is not counted twice; the end-to-end wall is
also compared with a minimal script that does the same work (load, run, softmax, save).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from _common import BIN, Results, interleaved_once, interleaved_wall, median, parser, prepare_run

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


def main() -> None:
    import torch

    from irisonnx.predictor import Predictor
    from irisonnx.run import Run

    ap = parser(__doc__)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--cli-repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=0, help="intra-op threads for onnxruntime and torch (0: onnxruntime's default, torch set to match the cores)")
    a = ap.parse_args()
    run = prepare_run(a.run)

    pred = Predictor(run, threads=a.threads or None)
    import onnxruntime as ort

    # a plain session as a user would make it: onnxruntime's defaults (intra-op pool over the cores)
    sess = ort.InferenceSession(str(run / "model.onnx"), providers=["CPUExecutionProvider"])
    in_name, logits = pred.info.input.name, pred.info.logits_name
    torch_default = a.threads or torch.get_num_threads()
    model = Run.open(run).load_model().eval()
    x = np.random.default_rng(0).uniform(0, 8, size=(a.rows, pred.n_features)).astype(np.float32)  # (rows, n_features)
    assert np.array_equal(pred.predict_logits(x), sess.run([logits], {in_name: x})[0])

    def torch_eager(threads: int) -> None:
        torch.set_num_threads(threads)
        with torch.inference_mode():
            model(torch.from_numpy(x)).numpy()

    fns = {
        "session.run": lambda: sess.run([logits], {in_name: x}),
        "Predictor.predict_logits": lambda: pred.predict_logits(x),
        "Predictor.run(check=False)": lambda: pred.run(x, (logits,), check=False),
        "torch eager": lambda: torch_eager(torch_default),
        "torch eager, 1 thread": lambda: torch_eager(1),
    }
    t = {k: median(v) for k, v in interleaved_once(fns, a.repeats).items()}
    rate = {k: a.rows / v for k, v in t.items()}
    threads = f"{a.threads} thread(s)" if a.threads else f"default threads (Predictor: one worker per core; plain session: onnxruntime's default; torch {torch_default})"
    # the strict torch baseline: whichever thread count was faster here
    best_torch = max(rate["torch eager"], rate["torch eager, 1 thread"])
    res = Results(f"throughput on {a.rows:,} rows, {threads}: median of {a.repeats} interleaved single calls")
    lib = rate["Predictor.predict_logits"]
    res.add("3", "Predictor.predict_logits (chunked, checked)", f"{lib / 1e6:.1f} M rows/s", f"one session.run {rate['session.run'] / 1e6:.1f} M rows/s", lib / rate["session.run"], ">= 1.2x", lib / rate["session.run"] >= 1.2)
    res.add("3", "Predictor.predict_logits (chunked, checked)", f"{lib / 1e6:.1f} M rows/s", f"torch eager, faster of {torch_default} threads and 1: {best_torch / 1e6:.1f} M rows/s", lib / best_torch, ">= 2.5x", lib / best_torch >= 2.5)
    res.add("3", "fraction of the memory-bandwidth limit", f"{lib / 1e6:.1f} M rows/s", "~730 M rows/s (28 bytes/row)", lib / BANDWIDTH_ROWS_S, "report", None)
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
