"""Render an :class:`irisonnx.edge.build.EdgeResult` as the text table ``irisonnx edge`` prints."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["render_text"]


def _pct(v: Any) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def _err(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, str):
        return v  # 'inf' / 'nan', kept as text so the JSON stays valid
    return "0" if v == 0 else f"{v:.3g}"


def _ratio(v: float | None, base: float | None) -> str:
    return "-" if not v or not base else f"{v / base:.2f}x"


def _rate(v: float | None) -> str:
    if v is None:
        return "-"
    for unit, div in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if v >= div:
            return f"{v / div:.3g} {unit}"
    return f"{v:.3g}"


def _generic_rows(res: Any, base: Any) -> tuple[list[str], list[list[str]]]:
    """A model that is not an irisonnx classifier: per-output tolerance figures."""
    head = ["variant", "bytes", "vs fp32", "ops", "max abs", "out of tol", "max abs rnd", "out of tol rnd", "batch-1 µs", "vs fp32", "rows/s", "gate"]
    rows: list[list[str]] = []
    for v in res.variants:
        for rt in dict.fromkeys([*(f.runtime for f in v.figures if f.runtime != "reference"), "reference"]):  # its own runtime, then fp16 math
            figs = [f for f in v.figures if f.runtime == rt]
            if not figs:
                continue
            gated = [f for f in figs if f.split == "in-range"]
            rnd = [f for f in figs if f.split == "random"]
            cells = [
                _err(_fin(max(f.max_abs for f in gated))) if gated else "-",
                f"{max(f.n_fail for f in gated):,}" if gated else "-",
                _err(_fin(max(f.max_abs for f in rnd))) if rnd else "-",
                f"{max(f.n_fail for f in rnd):,}" if rnd else "-",
            ]
            if rt != "reference":
                rows.append([v.variant, f"{v.bytes:,}", _ratio(v.bytes, base.bytes if base else None), str(v.n_ops), *cells, "-" if v.latency_us is None else f"{v.latency_us:.1f}", _ratio(v.latency_us, base.latency_us if base else None), _rate(v.throughput_rows_s), "pass" if v.passed else "FAIL"])
            else:
                rows.append([" └ fp16 math", "", "", "", *cells, "", "", "", ""])
    return head, rows


def render_text(res: Any) -> str:
    """The table (one row per variant, plus the fp16 reference row), the gates, the notes."""
    base = next((v for v in res.variants if v.variant == "fp32"), None)
    if not getattr(res, "classifier", True):
        return _render(res, *_generic_rows(res, base))
    head = ["variant", "bytes", "vs fp32", "ops", "accuracy", "agree", "max abs", "agree rnd", "max abs rnd", "batch-1 µs", "vs fp32", "M rows/s", "gate"]
    rows: list[list[str]] = []
    for v in res.variants:
        ort_rows = [f for f in v.figures if f.runtime != "reference"]  # the variant's own runtime
        test = [f for f in ort_rows if f.split == "test"]
        rnd = [f for f in ort_rows if f.split == "random"]
        rows.append(
            [
                v.variant,
                f"{v.bytes:,}",
                _ratio(v.bytes, base.bytes if base else None),
                str(v.n_ops),
                _pct(min(f.accuracy for f in test)) if test else "-",
                _pct(min(f.agreement for f in test)) if test else "-",
                _err(_fin(max(f.max_abs for f in test))) if test else "-",
                _pct(min(f.agreement for f in rnd)) if rnd else "-",
                _err(_fin(max(f.max_abs for f in rnd))) if rnd else "-",
                "-" if v.latency_us is None else f"{v.latency_us:.1f}",
                _ratio(v.latency_us, base.latency_us if base else None),
                "-" if v.throughput_rows_s is None else f"{v.throughput_rows_s / 1e6:.1f}",
                "pass" if v.passed else "FAIL",
            ]
        )
        ref = [f for f in v.figures if f.runtime == "reference"]
        if ref:
            rt = [f for f in ref if f.split == "test"]
            rr = [f for f in ref if f.split == "random"]
            rows.append(
                [
                    " └ fp16 math",
                    "",
                    "",
                    "",
                    _pct(min(f.accuracy for f in rt)) if rt else "-",
                    _pct(min(f.agreement for f in rt)) if rt else "-",
                    _err(_fin(max(f.max_abs for f in rt))) if rt else "-",
                    _pct(min(f.agreement for f in rr)) if rr else "-",
                    _err(_fin(max(f.max_abs for f in rr))) if rr else "-",
                    "",
                    "",
                    "",
                    "",
                ]
            )
    return _render(res, head, rows)


def _render(res: Any, head: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]
    left = {0, len(head) - 1}

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    inp = res.inputs
    if res.dataset is not None:
        out = [
            f"edge variants of {res.source} (sha256 {res.source_sha256[:16]}…), dataset {res.dataset}",
            f"  vs fp32 on the test split ({inp['test_rows']} rows) and {inp['random_rows']:,} random rows within and far beyond the training range (seed {inp['seed']}),",
            "  each all rows in one call and one row per call (figures are the worse of the two);",
        ]
    else:
        shapes = ", ".join(f"{k} {v}" for k, v in inp["shapes"].items())
        ranges = ", ".join(f"{k} {lo}..{hi}" for k, (lo, hi) in inp["ranges"].items())
        modes = "each all rows in one call and one row per call (figures are the worse of the two)" if len(inp["batch_modes"]) > 1 else ("fed at the fixed batch " + str(inp["fixed_batch"]) if inp["fixed_batch"] else "each set in one call (the outputs do not follow the input rows)")
        out = [
            f"edge variants of {res.source} (sha256 {res.source_sha256[:16]}…): not an irisonnx classifier, gated per output on generated inputs",
            f"  vs fp32 on {inp['in_range_rows']:,} rows inside the input ranges ({ranges}; gated) and {inp['random_rows']:,} within and far beyond them (reported), seed {inp['seed']};",
            f"  inputs {shapes}; {modes}; int8-static calibrated on {inp['calibration']};",
        ]
    out.append(f"  onnxruntime {res.validated_with['onnxruntime']} CPUExecutionProvider on {res.validated_with['machine']}, {res.validated_with['threads'] or 'default'} thread(s)")
    if res.bench.get("rounds"):
        sr = res.bench.get("small_rows", 1)
        small = "batch-1" if res.dataset is not None or sr == 1 else (f"batch {sr} (fixed)" if sr else "the whole input")
        out.append(f"  timing: side by side, median of {res.bench['rounds']} rounds; {small} over {res.bench['reps']} calls, throughput on {res.bench['rows']:,} rows per call;")
        clock = res.bench.get("clock", "wall clock")
        out.append(f"  clock: {clock}" + (" (one-thread sessions run inline; wall-clock figures are in --json)" if clock.startswith("thread") else ""))
    out += ["", line(head), line(["-" * w for w in widths])]
    out += [line(r) for r in rows]
    out.append("")
    out.append("gates:")
    for v in res.variants:
        if not v.checks:
            out.append(f"  {v.variant:<13} pass  {v.gate}")
            continue
        for i, c in enumerate(v.checks):
            out.append(f"  {v.variant if i == 0 else '':<13} {'pass' if c.passed else 'FAIL'}  {c.describe()}")
    skipped = getattr(res, "skipped", [])
    if skipped:
        out.append("")
        out.append("skipped (not made for this model):")
        for sk in skipped:
            out.append(f"  {sk['variant']:<13} {sk['reason']}")
    notes = [(v.variant, n) for v in res.variants for n in v.notes] + [("", n) for n in res.notes]
    if notes:
        out.append("")
        out.append("notes:")
        for who, n in notes:
            out.append(f"  - {who + ': ' if who else ''}{n}")
    out.append("")
    if res.written:
        extra = ", .ort twins, required_operators.config" if res.ort_format else ""
        out.append(f"bundle: {res.out}  ({len(res.variants)} model(s){extra}, labels.json, manifest.json, predict.py)")
    else:
        out.append(f"bundle: NOT written to {res.out}")
    return "\n".join(out) + "\n"


def _fin(v: float) -> Any:
    return v if math.isfinite(v) else repr(v)
