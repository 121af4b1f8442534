"""Runtime families side by side (issue 17): each runtime against onnxruntime CPU, measured in
one process with the runtimes taking turns, on the Iris MLP and a small CNN (and the
attention model of the test corpus for parity).

    python benchmarks/bench_families.py [--run RUN] [--runtimes ort-cpu,openvino,openvino:bf16]
        [--models iris,cnn,encoder] [--calls 500] [--repeats 7] [--rows 65536] [--cnn-rows 4096]
        [--threads N] [--json FILE]

For each model and runtime (irisonnx's own runtime classes, by their registry names, so
litert and executorch join with ``--runtimes ...,litert,executorch``):

* parity: max abs error of every float output against ort-cpu, on the Iris test split (Iris)
  or the corpus's example inputs (CNN, attention), and on the throughput batch;
* batch-1 latency: median µs per call over ``--repeats`` interleaved loops of ``--calls`` calls;
* throughput: rows/s of one call on ``--rows`` rows (``--cnn-rows`` images for the CNN),
  median of ``--repeats`` interleaved calls;
* setup: seconds to activate (imports, reading/converting, compiling).

The CNN and the attention model are built by tests/corpus.py (torch, exported to ONNX, with a
``FILE.py:FACTORY`` module spec for runtimes that start from the torch module). The output is
a Markdown table to paste into BENCHMARKS.md, under the machine line; ``--json`` writes the rows.
A runtime that cannot run (not installed, an op it lacks) is listed with the reason.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from _common import ROOT, interleaved_calls, interleaved_once, machine_header, median, parser, prepare_run

sys.path.insert(0, str(ROOT / "tests"))


def _models(names: list[str], run_arg: str | None, rows: int, cnn_rows: int) -> list[dict[str, Any]]:
    """name, ONNX file, run or module spec, parity feeds, batch-1 feeds, throughput feeds."""
    rng = np.random.default_rng(0)
    out = []
    if "iris" in names:
        run = prepare_run(run_arg)
        from irisonnx.training.run import Run

        r = Run.open(run)
        ds = r.dataset()
        x = rng.uniform(0.0, 8.0, size=(rows, 4)).astype(np.float32)
        out.append({"name": "iris", "onnx": run / "model.onnx", "run": r, "module": None, "parity": {"features": np.ascontiguousarray(ds.features[ds.test_idx], dtype=np.float32)}, "one": {"features": x[:1].copy()}, "big": {"features": x}, "big_rows": rows})
    wanted = [n for n in ("cnn", "encoder") if n in names]
    if wanted:
        from corpus import build_torch

        corpus = build_torch(Path(tempfile.mkdtemp(prefix="irisonnx-families-")))
        if "cnn" in wanted:
            m = corpus["cnn"]
            img = rng.standard_normal((cnn_rows, 1, 28, 28)).astype(np.float32)
            out.append({"name": "cnn", "onnx": m.onnx, "run": None, "module": m.module, "parity": m.inputs, "one": {"image": img[:1].copy()}, "big": {"image": img}, "big_rows": cnn_rows})
        if "encoder" in wanted:
            m = corpus["encoder"]
            ids = rng.integers(0, 50, (1024, 16)).astype(np.int64)
            mask = np.zeros((1024, 16), dtype=bool)
            mask[::3, 10:] = True
            out.append({"name": "encoder", "onnx": m.onnx, "run": None, "module": m.module, "parity": m.inputs, "one": {"ids": ids[:1].copy(), "mask": mask[:1].copy()}, "big": {"ids": ids, "mask": mask}, "big_rows": 1024})
    return out


def _max_abs(mine: dict[str, np.ndarray], base: dict[str, np.ndarray]) -> float | None:
    errs = [float(np.nanmax(np.abs(mine[k].astype(np.float64) - base[k].astype(np.float64)))) for k in base if k in mine and base[k].dtype.kind == "f" and mine[k].shape == base[k].shape and base[k].size]
    return max(errs) if errs else None


def measure(model: dict[str, Any], specs: list[str], args: Any) -> list[dict[str, Any]]:
    import time

    from irisonnx.errors import RuntimeUnavailable
    from irisonnx.training.module import parse_module_spec
    from irisonnx.modelfile.onnx_io import load_model_safely
    from irisonnx.runtimes import RuntimeContext, create

    info = load_model_safely(model["onnx"])
    ctx = RuntimeContext(model_path=info.path, run=model["run"], model_info=info, output_names=info.output_names, threads=args.threads or None)
    if model["module"]:
        ctx.module = parse_module_spec(model["module"])
    rows, active = [], {}
    for spec in specs:
        rt = create(spec, ctx)
        row: dict[str, Any] = {"model": model["name"], "runtime": rt.name}
        rows.append(row)
        ok, why = rt.is_available()
        if not ok:
            row["unavailable"] = why
            continue
        t0 = time.perf_counter()
        try:
            rt.activate()
            rt.run(model["one"])  # first call: lazy compilation some runtimes do
        except RuntimeUnavailable as exc:
            row["unavailable"] = exc.why or str(exc)
            continue
        row["setup_s"] = time.perf_counter() - t0
        active[rt.name] = (rt, row)
    base = active.get("ort-cpu")
    try:
        for label, feeds, key in (("parity", model["parity"], "max_abs"), ("big", model["big"], "max_abs_big")):
            outs = {n: rt.run(feeds) for n, (rt, _) in active.items()}
            for n, (_, row) in active.items():
                row[key] = _max_abs(outs[n], outs["ort-cpu"]) if base else None
        one = model["one"]
        lat = interleaved_calls({n: (lambda rt=rt: rt.run(one)) for n, (rt, _) in active.items()}, args.calls, args.repeats, warmup_calls=min(args.calls, 200))
        big = model["big"]
        thr = interleaved_once({n: (lambda rt=rt: rt.run(big)) for n, (rt, _) in active.items()}, args.repeats)
        for n, (rt, row) in active.items():
            row["latency_us"] = lat[n] * 1e6
            row["rows_per_s"] = model["big_rows"] / median(thr[n])
            inf = rt.info()
            row["precision"] = inf.get("precision", "f32" if rt.kind in ("ort-cpu", "torch") else None)
            row["versions"] = inf.get("versions", {})
            row["route"] = inf.get("route", "")
    finally:
        for rt, _ in active.values():
            rt.deactivate()
    if base:
        b = base[1]
        for n, (_, row) in active.items():
            row["latency_x_ort"] = row["latency_us"] / b["latency_us"]
            row["throughput_x_ort"] = row["rows_per_s"] / b["rows_per_s"]
    return rows


def _fmt(v: Any, spec: str = ".3g") -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return "0" if v == 0 else format(v, spec)
    return str(v)


def render(rows: list[dict[str, Any]], args: Any) -> str:
    head = ["model", "runtime", "precision", "max abs vs ort-cpu (examples)", f"max abs (throughput batch)", "batch-1 µs/call", "x ort-cpu", "rows/s", "x ort-cpu", "setup s"]
    lines = [f"machine: {machine_header()}", f"settings: {args.calls} calls x {args.repeats} repeats at batch 1; throughput on {args.rows:,} Iris rows / {args.cnn_rows:,} CNN images / 1,024 encoder rows, median of {args.repeats}; threads {args.threads or 'each runtime default'}", ""]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "---|" * len(head))
    versions: dict[str, str] = {}
    for r in rows:
        if "unavailable" in r:
            lines.append(f"| {r['model']} | {r['runtime']} | unavailable: {r['unavailable']} |" + " |" * (len(head) - 3))
            continue
        versions.update(r.get("versions", {}))
        lines.append("| " + " | ".join([r["model"], r["runtime"], _fmt(r.get("precision")), _fmt(r.get("max_abs")), _fmt(r.get("max_abs_big")), f"{r['latency_us']:.1f}", f"{r.get('latency_x_ort', 0):.2f}x", f"{r['rows_per_s']:.3g}", f"{r.get('throughput_x_ort', 0):.2f}x", f"{r['setup_s']:.2f}"]) + " |")
    lines += ["", "versions: " + ", ".join(f"{k} {v}" for k, v in sorted(versions.items()))]
    return "\n".join(lines)


def main() -> None:
    ap = parser(__doc__)
    ap.add_argument("--runtimes", default="ort-cpu,torch,openvino,openvino:bf16,litert,executorch", help="Comma-separated runtime specs; ort-cpu (the baseline) is added first if missing.")
    ap.add_argument("--models", default="iris,cnn", help="Comma-separated: iris, cnn, encoder.")
    ap.add_argument("--calls", type=int, default=500)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--rows", type=int, default=65536)
    ap.add_argument("--cnn-rows", type=int, default=4096)
    ap.add_argument("--threads", type=int, default=0, help="Threads for every runtime (0: each runtime's default).")
    args = ap.parse_args()
    specs = [s.strip() for s in args.runtimes.split(",") if s.strip()]
    if "ort-cpu" not in specs:
        specs.insert(0, "ort-cpu")
    rows = []
    for model in _models([m.strip() for m in args.models.split(",") if m.strip()], args.run, args.rows, args.cnn_rows):
        rows += measure(model, specs, args)
    print(render(rows, args))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({"machine": machine_header(), "rows": rows}, indent=2, default=str))


if __name__ == "__main__":
    main()
