"""Render a CompareResult as plain text, Markdown or HTML (strings; the caller writes them)."""

from __future__ import annotations

import html
from typing import Any

__all__ = ["rows", "render_text", "render_markdown", "render_html"]

HEAD = ["runtime", "output", "max abs", "max rel", "mean abs", "max ULP", "out of tol", "argmax", "exact", "result"]


def _g(v: Any) -> str:
    if isinstance(v, str):
        return v
    if v is None:
        return "-"
    if isinstance(v, float):
        return "0" if v == 0 else f"{v:.3g}"
    return str(v)


def rows(result: Any) -> list[list[str]]:
    out = []
    for p in result.pairs:
        for s in p.outputs.values():
            agree = s.argmax_agreement
            out.append([
                p.runtime,
                s.output,
                _g(s.max_abs),
                _g(s.max_rel),
                _g(s.mean_abs),
                _g(s.max_ulp),
                f"{s.n_fail}/{s.n_elements}",
                "-" if agree is None else f"{agree:.2%}",
                "yes" if s.exact else "no",
                "PASS" if s.passed else "FAIL",
            ])
    return out


def _header_lines(result: Any) -> list[str]:
    lines = [f"target   {result.target}"]
    if result.model:
        lines.append(f"model    {result.model} (sha256 {result.model_sha256[:16]}…)")
    lines += [f"inputs   {result.inputs}", f"baseline {result.baseline}; tolerance {result.tolerance.describe()}"]
    lines += [f"note     {n}" for n in result.notes]
    return lines


def _runtime_lines(result: Any) -> list[str]:
    lines = []
    for r in result.runtimes:
        if not r.available:
            lines.append(f"{r.spec}: unavailable: {r.reason}")
            continue
        info = r.info
        extra = []
        if info.get("providers"):
            extra.append("providers " + ",".join(info["providers"]))
        if info.get("versions"):
            extra.append(" ".join(f"{k} {v}" for k, v in info["versions"].items()))
        if info.get("graph_optimization"):
            extra.append(f"graph opt {info['graph_optimization']}")
        if info.get("note"):
            extra.append(info["note"])
        lines.append(f"{r.spec}: ran in {r.seconds:.3f}s (+{r.setup_seconds:.2f}s setup); " + "; ".join(extra))
    return lines


def _where(w: dict[str, Any]) -> str:
    """``sample 3, index [0, 2, 1]``, or ``row 12 col 1`` for a 2-D output (as before)."""
    idx = w.get("index")
    head = f"sample {w['sample']}, " if w.get("sample") is not None else ""
    if idx is not None and len(idx) == 2 and w.get("sample") is None:
        return f"row {idx[0]} col {idx[1]}"
    return head + f"index {idx if idx is not None else [w.get('row'), w.get('col')]}"


def _worst_lines(result: Any) -> list[str]:
    lines = []
    for p in result.pairs:
        for s in p.outputs.values():
            if s.shape_mismatch:
                lines.append(f"{p.runtime} {s.output}: shapes differ: {s.shape_mismatch}")
            elif s.mismatches:
                shown = "; ".join(f"{_where(m)}: {m['value']!r} vs {m['baseline']!r}" for m in s.mismatches)
                lines.append(f"{p.runtime} {s.output}: {s.n_fail} of {s.n_elements} differ ({result.baseline} second); first at {shown}")
            elif s.worst and not s.exact:
                w = s.worst
                lines.append(f"{p.runtime} {s.output}: worst at {_where(w)}: {w['value']!r} vs {w['baseline']!r} ({result.baseline})")
    return lines


def _locate_lines(result: Any) -> list[str]:
    lines = []
    for loc in result.location:
        fd = loc.get("first_divergence")
        if loc.get("error"):
            lines.append(f"locate {loc['runtime']} vs {loc['baseline']}: {loc['error']}")
        elif fd is None:
            lines.append(f"locate {loc['runtime']} vs {loc['baseline']}: no intermediate tensor leaves the tolerance on rows {loc['rows']}")
        else:
            mod = f" (torch {fd['torch_module']})" if fd.get("torch_module") else ""
            fd = {**fd, "node": fd["node"] or f"<unnamed, output {fd['tensor']}>"}
            lines.append(
                f"locate {loc['runtime']} vs {loc['baseline']}: first divergence at node {fd['node']!r} ({fd['op_type']}, inputs {', '.join(fd['inputs'])}){mod}: "
                f"max abs {_g(fd['max_abs_error'])}, {fd['n_out_of_tolerance']} elements out of tolerance, on rows {loc['rows']}"
            )
    return lines


def _table(head: list[str], body: list[list[str]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in body)) if body else len(h) for i, h in enumerate(head)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return [fmt.format(*head)] + [fmt.format(*r) for r in body]


def render_text(result: Any) -> str:
    lines = _header_lines(result) + [""] + _table(HEAD, rows(result)) + [""] + _runtime_lines(result)
    extra = _worst_lines(result) + _locate_lines(result)
    if result.saved_io:
        extra.append(f"saved inputs and outputs to {result.saved_io}")
    lines += extra
    if not result.pairs:
        lines.append(f"RECORDED: outputs of {result.baseline} on {result.n_rows:,} {('row' if getattr(result, 'batched', True) else 'sample') + ('s' if result.n_rows != 1 else '')} saved to {result.saved_io} ({result.seconds:.2f}s)")
    else:
        lines.append(f"{'PASS' if result.passed else 'FAIL'}: {sum(p.passed for p in result.pairs)}/{len(result.pairs)} runtime pairs within tolerance ({result.seconds:.2f}s)")
    return "\n".join(lines) + "\n"


def render_markdown(result: Any) -> str:
    lines = ["# irisonnx compare", ""] + [f"- {l}" for l in _header_lines(result)] + [""]
    lines.append("| " + " | ".join(HEAD) + " |")
    lines.append("|" + "---|" * len(HEAD))
    lines += ["| " + " | ".join(r) + " |" for r in rows(result)]
    lines += ["", "## Runtimes", ""] + [f"- {l}" for l in _runtime_lines(result)]
    hist = _histograms(result)
    if hist:
        lines += ["", "## Error histograms (|a - b| by decade)", ""] + hist
    extra = _worst_lines(result) + _locate_lines(result)
    if extra:
        lines += ["", "## Details", ""] + [f"- {l}" for l in extra]
    lines += ["", f"**{'PASS' if result.passed else 'FAIL'}**", ""]
    return "\n".join(lines)


def _histograms(result: Any) -> list[str]:
    from irisonnx.compare.stats import HIST_LABELS

    out = []
    for p in result.pairs:
        for s in p.outputs.values():
            cells = [f"{lab}: {n}" for lab, n in zip(HIST_LABELS, s.histogram) if n]
            out.append(f"- {p.runtime} `{s.output}`: " + ", ".join(cells))
    return out


def render_html(result: Any) -> str:
    e = html.escape
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>irisonnx compare</title>",
             "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}"
             "td:first-child,td:nth-child(2){text-align:left}.FAIL{color:#b00;font-weight:bold}.PASS{color:#070}</style></head><body>",
             "<h1>irisonnx compare</h1><ul>"]
    parts += [f"<li>{e(l)}</li>" for l in _header_lines(result)]
    parts.append("</ul><table><tr>" + "".join(f"<th>{e(h)}</th>" for h in HEAD) + "</tr>")
    for r in rows(result):
        parts.append("<tr>" + "".join(f"<td class='{e(c)}'>{e(c)}</td>" for c in r) + "</tr>")
    parts.append("</table><h2>Runtimes</h2><ul>" + "".join(f"<li>{e(l)}</li>" for l in _runtime_lines(result)) + "</ul>")
    parts.append("<h2>Error histograms</h2><ul>" + "".join(f"<li>{e(l[2:])}</li>" for l in _histograms(result)) + "</ul>")
    extra = _worst_lines(result) + _locate_lines(result)
    if extra:
        parts.append("<h2>Details</h2><ul>" + "".join(f"<li>{e(l)}</li>" for l in extra) + "</ul>")
    verdict = "PASS" if result.passed else "FAIL"
    parts.append(f"<p class='{verdict}'>{verdict}</p></body></html>\n")
    return "".join(parts)
