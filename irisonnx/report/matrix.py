"""The runtime matrix: one row per runtime (torch, ORT CPU, reference, web, OpenVINO, LiteRT,
ExecuTorch, ...), from a run's compare.json and bench.json: how far each one is from the
baseline (max abs error, max ULP, argmax agreement), how fast it is (batch-1 latency, best
throughput), and, for a runtime that could not run, why not and what enables it.

Plain data only (no HTML, no printing): the report renders it as a table, the pipeline's
summary as text.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["MatrixRow", "runtime_matrix", "matrix_text"]


@dataclass
class MatrixRow:
    runtime: str
    status: str  # "baseline", "ran", "unavailable"
    reason: str  # why it did not run (with the command that enables it), else ""
    precision: str | None
    route: str | None
    version: str | None
    max_abs_error: float | None
    max_ulp: float | None
    argmax_agreement: float | None
    passed: bool | None
    latency_p50_us: float | None
    throughput_rows_s: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _versions(info: dict[str, Any]) -> str | None:
    v = info.get("versions") or {}
    return " ".join(f"{k} {val}" for k, val in v.items()) or None


def runtime_matrix(compare: dict[str, Any] | None, bench: dict[str, Any] | None) -> list[MatrixRow]:
    """Rows in compare's order (baseline first), then runtimes only bench timed."""
    rows: dict[str, MatrixRow] = {}
    pairs = {p["runtime"]: p for p in (compare or {}).get("pairs", [])}
    baseline = (compare or {}).get("baseline")
    for r in (compare or {}).get("runtimes", []):
        info = r.get("info") or {}
        name = r["runtime"]
        p = pairs.get(name)
        outs = p["outputs"] if p else []
        floats = [o for o in outs if o.get("max_abs_error") is not None]
        agree = [o["argmax_agreement"] for o in outs if o.get("argmax_agreement") is not None]
        status = "baseline" if name == baseline else ("ran" if r.get("available") else "unavailable")
        rows[name] = MatrixRow(
            runtime=name,
            status=status,
            reason="" if r.get("available") else (r.get("reason") or ""),
            precision=info.get("precision"),
            route=info.get("route"),
            version=_versions(info),
            max_abs_error=max((o["max_abs_error"] for o in floats), default=None) if p else (0.0 if status == "baseline" else None),
            max_ulp=max((o["max_ulp"] for o in floats if o.get("max_ulp") is not None), default=None) if p else (0.0 if status == "baseline" else None),
            argmax_agreement=min(agree) if agree else (1.0 if status == "baseline" and any(o.get("argmax_agreement") is not None for q in pairs.values() for o in q["outputs"]) else None),
            passed=p.get("passed") if p else (True if status == "baseline" else None),
            latency_p50_us=None,
            throughput_rows_s=None,
        )
    for b in (bench or {}).get("runtimes", []):
        name = b["runtime"]
        row = rows.get(name)
        if row is None:
            info = b.get("info") or {}
            row = rows[name] = MatrixRow(name, "ran" if b.get("available") else "unavailable", "" if b.get("available") else (b.get("reason") or ""), info.get("precision"), info.get("route"), _versions(info), None, None, None, None, None, None)
        lat = b.get("latency_batch1") or {}
        row.latency_p50_us = lat.get("p50_us")
        tp = [t["rows_per_s"] for t in (b.get("throughput") or []) if t.get("rows_per_s")]
        row.throughput_rows_s = max(tp) if tp else None
    return list(rows.values())


def _g(v: float | None, fmt: str) -> str:
    return "-" if v is None else format(v, fmt)


def matrix_text(rows: list[MatrixRow]) -> str:
    """A plain-text table of the matrix (the pipeline's summary)."""
    head = ["runtime", "status", "max abs", "max ULP", "argmax", "batch-1 µs", "rows/s", "precision, route"]
    body = []
    for r in rows:
        body.append([r.runtime, r.status + (" (below)" if r.reason else ""), _g(r.max_abs_error, ".2g"), _g(r.max_ulp, ".0f"), "-" if r.argmax_agreement is None else f"{r.argmax_agreement:.1%}", _g(r.latency_p50_us, ".1f"), _g(r.throughput_rows_s, ".3g"), ", ".join(x for x in (r.precision, r.route) if x) or "-"])
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(line, widths)).rstrip() for line in [head, *body]]
    lines += [f"{r.runtime}: {r.reason}" for r in rows if r.reason]  # in full: it names the command that enables it
    return "\n".join(lines)
