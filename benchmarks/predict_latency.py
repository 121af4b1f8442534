"""Target 2, batch-1 latency: the Predictor that ``predict`` and ``bench`` use, in process, at
most the latency of a plain ``session.run`` on the same session (the aim: below it).

    python benchmarks/predict_latency.py [--run RUN] [--calls 20000] [--repeats 7] [--threads 1]

The Predictor's small-batch path is an I/O binding whose input and output buffers are bound
once; ``session.run`` builds its input and output OrtValues on every call. Medians of
``repeats`` interleaved loops of ``calls`` calls (A B C A B C ...), so that load from other
processes hits every candidate alike. No torch needed once the run exists.
"""

from __future__ import annotations

import numpy as np

from _common import Results, interleaved_calls, parser, prepare_run


def main() -> None:
    from irisonnx.runtimes.ort_engine import Predictor

    ap = parser(__doc__)
    ap.add_argument("--calls", type=int, default=20000)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads (0: its default)")
    a = ap.parse_args()
    run = prepare_run(a.run)

    pred = Predictor(run, threads=a.threads or None)
    sess = pred.session  # the very same session: only the calling path differs
    in_name, logits = pred.info.input.name, pred.info.logits_name
    x1 = np.random.default_rng(0).uniform(0, 8, size=(1, pred.n_features)).astype(np.float32)  # (1, n_features)
    assert np.array_equal(sess.run([logits], {in_name: x1})[0], pred.predict_logits(x1))

    fns = {
        "session.run": lambda: sess.run([logits], {in_name: x1}),
        "Predictor.predict_logits": lambda: pred.predict_logits(x1),  # input checked (finite, shape, dtype)
        "Predictor.run(check=False)": lambda: pred.run(x1, (logits,), check=False),
        "Predictor.predict": lambda: pred.predict(x1),  # + softmax and argmax in numpy
    }
    us = {k: v * 1e6 for k, v in interleaved_calls(fns, a.calls, a.repeats).items()}
    threads = f"{a.threads} intra-op thread(s)" if a.threads else "default threads"
    res = Results(f"batch-1 latency, in process, {threads}: median of {a.repeats} interleaved loops of {a.calls:,} calls")
    base = us["session.run"]
    for k in ("Predictor.predict_logits", "Predictor.run(check=False)"):
        r = us[k] / base
        res.add("2", f"{k}(x)", f"{us[k]:.2f} µs", f"session.run on the same session {base:.2f} µs", r, "<= 1.0x (aim below)", r <= 1.0)
    res.note(f"Predictor.predict (labels + probabilities in numpy): {us['Predictor.predict']:.2f} µs")
    res.print(a.json_out)


if __name__ == "__main__":
    main()
