"""Find the first node where two runtimes diverge.

Only the few worst rows are re-run, with every intermediate tensor exposed, so memory stays
bounded however large the comparison was (Polygraphy users run out of memory by marking all
outputs on all rows).

* ONNX vs ONNX: every node output is made a graph output; tensors are matched by name and
  compared in topological order.
* torch vs ONNX: each leaf module's output is caught with a forward hook and matched, in
  execution order, to the next ONNX node output of the same shape that is closest to it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from irisonnx.compare.stats import PairStats, Tolerance
from irisonnx.modelfile.graph import expose_all

__all__ = ["locate_divergence"]


def _stats(name: str, a: np.ndarray, b: np.ndarray, tol: Tolerance) -> dict[str, Any]:
    # Intermediates take the default tolerance: a per-output one names final outputs only.
    ps = PairStats("runtime", "baseline", Tolerance(tol.mode, tol.atol, tol.rtol, tol.max_ulp))
    ps.update(name, a, b)
    s = ps.outputs[name]
    return {"max_abs_error": s.max_abs, "max_ulp": s.max_ulp, "n_out_of_tolerance": s.n_fail, "passed": s.passed}


def locate_divergence(runtime: Any, baseline: Any, rows: dict[str, np.ndarray], row_ids: list[int], tol: Tolerance) -> dict[str, Any]:
    """Re-run ``rows`` (arrays by input name: the worst rows, or the worst sample) with
    intermediates exposed; return the trail and the first failing node."""
    res: dict[str, Any] = {"runtime": runtime.name, "baseline": baseline.name, "rows": row_ids, "tolerance": tol.describe(), "trail": [], "first_divergence": None}
    try:
        mine = runtime.intermediates(rows)
        theirs = baseline.intermediates(rows)
    except NotImplementedError as exc:
        res["error"] = str(exc)
        return res
    if runtime.kind == "torch" or baseline.kind == "torch":
        onnx_side, mod_side = (theirs, mine) if runtime.kind == "torch" else (mine, theirs)
        trail = _match_modules(mod_side, onnx_side, tol, torch_is_runtime=runtime.kind == "torch")
    else:
        by_name = {i.tensor: i for i in theirs}
        trail = []
        for i in mine:
            j = by_name.get(i.tensor)
            if j is None or i.value.shape != j.value.shape or i.value.dtype.kind != j.value.dtype.kind:
                continue
            trail.append({"node": i.node, "op_type": i.op_type, "inputs": i.inputs, "tensor": i.tensor, **_stats(i.tensor, i.value, j.value, tol)})
    res["trail"] = trail
    res["first_divergence"] = next((t for t in trail if not t["passed"]), None)
    return res


def _match_modules(mods: list[Any], onnx_nodes: list[Any], tol: Tolerance, torch_is_runtime: bool) -> list[dict[str, Any]]:
    trail, pos = [], 0
    for m in mods:
        best, best_err, best_j = None, np.inf, -1
        for j in range(pos, len(onnx_nodes)):
            o = onnx_nodes[j]
            if o.value.shape != m.value.shape or o.value.dtype.kind != "f":
                continue
            err = float(np.nanmax(np.abs(o.value.astype(np.float64) - m.value.astype(np.float64)))) if o.value.size else 0.0
            if err < best_err:
                best, best_err, best_j = o, err, j
        if best is None:
            continue
        pos = best_j + 1
        a, b = (m.value, best.value) if torch_is_runtime else (best.value, m.value)
        trail.append({"node": best.node, "op_type": best.op_type, "inputs": best.inputs, "tensor": best.tensor, "torch_module": f"{m.node} ({m.op_type})", **_stats(best.tensor, a, b, tol)})
    return trail
