"""``irisonnx.check``: the Python entry point, for a torch module or an ONNX file.

Given an ``nn.Module`` it exports it (:func:`irisonnx.export_module.export_module`, the same
checks as ``irisonnx export --module``, to a temporary folder or ``onnx_path``), then runs the
runtimes on the same inputs and compares them through the one comparator
(:func:`irisonnx.compare_run.run_compare`). Nothing is printed and nothing exits: bad input
raises an :class:`irisonnx.errors.IrisOnnxError` (its ``exit_code`` says which kind), and a
disagreement is ``result.passed == False`` with the figures to say where.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from irisonnx.errors import UsageError

__all__ = ["check", "CheckResult"]


@dataclass
class CheckResult:
    """What :func:`check` found. ``pairs[runtime][output]`` is an
    :class:`irisonnx.compare.OutputStats` (``max_abs``, ``max_rel``, ``max_ulp``, ``n_fail``,
    ``worst``, ``passed``...) of that runtime's output against the baseline's."""

    compare: Any  # irisonnx.compare_run.CompareResult
    onnx_path: Path | None  # None when a temporary export was removed
    export: Any = None  # irisonnx.export_module.ModuleExportResult when a module was exported

    @property
    def passed(self) -> bool:
        return self.compare.passed

    @property
    def baseline(self) -> str:
        return self.compare.baseline

    @property
    def pairs(self) -> dict[str, dict[str, Any]]:
        return {p.runtime: dict(p.outputs) for p in self.compare.pairs}

    @property
    def failing(self) -> list[str]:
        """Runtimes that disagree with the baseline."""
        return [p.runtime for p in self.compare.pairs if not p.passed]

    def to_dict(self) -> dict[str, Any]:
        d = self.compare.to_dict()
        d["onnx_path"] = str(self.onnx_path) if self.onnx_path else None
        if self.export is not None:
            d["export"] = self.export.to_dict()
        return d

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        c = self.compare
        names = ", ".join(p.runtime for p in c.pairs)
        lines = [f"irisonnx.check: {'PASSED' if self.passed else 'FAILED'}: {names} vs {c.baseline} on {c.inputs}; {c.tolerance.describe()}"]
        for p in c.pairs:
            for s in p.outputs.values():
                head = f"  {p.runtime} {s.output}: {'ok' if s.passed else 'FAIL'}"
                if s.shape_mismatch:
                    lines.append(f"{head}, shape {s.shape_mismatch}")
                    continue
                fig = f"max abs {s.max_abs:.3g}, max rel {s.max_rel:.3g}, max ULP {s.max_ulp:.0f}" if s.dtype.startswith(("float", "bfloat")) else "exact"
                lines.append(f"{head}, {fig}, {s.n_fail}/{s.n_elements} out of tolerance")
                if not s.passed and s.worst:
                    w = s.worst
                    lines.append(f"    worst at {w['index']}: {w['value']!r} vs {w['baseline']!r} ({c.baseline})")
                elif not s.passed and s.mismatches:
                    m = s.mismatches[0]
                    lines.append(f"    first mismatch at {m['index']}: {m['value']!r} vs {m['baseline']!r} ({c.baseline})")
        for loc in c.location:
            first = loc.get("first_divergence")
            if first:
                lines.append(f"  first divergence of {loc['runtime']}: node {first['node']!r} ({first['op_type']})")
        lines.extend(f"  note: {n}" for n in c.notes)
        return "\n".join(lines)

    __repr__ = __str__


def _is_module(obj: Any) -> bool:
    if isinstance(obj, (str, os.PathLike)):
        return False
    import torch

    return isinstance(obj, torch.nn.Module)


def check(
    model: Any,
    inputs: Any,
    runtimes: Sequence[str] | None = None,
    *,
    atol: float = 1e-5,
    rtol: float = 1e-5,
    exact: bool = False,
    max_ulp: int | None = None,
    per_output: dict[str, tuple[float, float]] | None = None,
    baseline: str | None = None,
    module: Any = None,
    onnx_path: str | os.PathLike | None = None,
    exporter: str = "dynamo",
    opset: int | None = None,
    dynamic: Sequence[str] = (),
    static: bool = False,
    output_names: Sequence[str] | None = None,
    locate: bool = False,
) -> CheckResult:
    """Do the runtimes compute the same function as torch (or as each other)?

    ``model``: an ``nn.Module`` (exported first; kept at ``onnx_path`` if given), or an ONNX
    file's path (``module=`` then adds your torch module as the ``torch`` runtime).
    ``inputs``: a dict of arrays by input name, a tuple of arrays or tensors in input order,
    or one array. ``runtimes``: default torch, ort-cpu and reference (without torch for an ONNX
    file given alone); the first is the baseline unless ``baseline``. Tolerance: ``atol``/
    ``rtol`` (``|a - b| <= atol + rtol * |b|``), or ``exact`` (bitwise), or ``max_ulp``;
    integer and bool outputs always exactly.
    """
    from irisonnx.compare import Tolerance
    from irisonnx.compare_run import run_compare
    from irisonnx.export_module import export_module

    if exact and max_ulp is not None:
        raise UsageError("exact and max_ulp exclude each other", "pick one tolerance mode")
    if max_ulp is not None and (not isinstance(max_ulp, int) or max_ulp < 0):
        raise UsageError("bad max_ulp", repr(max_ulp), "use a non-negative integer")
    mode = "exact" if exact else "ulp" if max_ulp is not None else "close"
    tol = Tolerance(mode=mode, atol=atol, rtol=rtol, max_ulp=max_ulp or 0, per_output=dict(per_output or {}))
    if _is_module(model):
        if module is not None:
            raise UsageError("module= is for an ONNX file", "the model given is already a torch module")
        module = model
        tmp = None
        if onnx_path is None:
            tmp = tempfile.TemporaryDirectory(prefix="irisonnx-check-")
            target = Path(tmp.name) / "model.onnx"
        else:
            target = Path(onnx_path)
        try:
            exp = export_module(model, inputs, target, exporter=exporter, opset=opset, dynamic=dynamic, static=static, output_names=output_names, atol=atol, rtol=rtol, parity=False)
            res = _compare(run_compare, target, inputs, runtimes or ("torch", "ort-cpu", "reference"), baseline, module, tol, locate)
        finally:
            if tmp is not None:
                tmp.cleanup()
        return CheckResult(res, None if tmp is not None else target, exp)
    if not isinstance(model, (str, os.PathLike)):
        raise UsageError("irisonnx.check takes a torch.nn.Module or an ONNX file's path", f"got a {type(model).__name__}")
    default = ("torch", "ort-cpu", "reference") if module is not None else ("ort-cpu", "reference")
    res = _compare(run_compare, Path(model), inputs, runtimes or default, baseline, module, tol, locate)
    return CheckResult(res, Path(model))


def _compare(run_compare: Any, target: Path, inputs: Any, runtimes: Sequence[str], baseline: str | None, module: Any, tol: Any, locate: bool) -> Any:
    from irisonnx.export_module import example_feeds
    from irisonnx.onnx_io import resolve_model

    if isinstance(runtimes, str):
        runtimes = [r for r in runtimes.split(",") if r.strip()]
    if not target.exists():
        raise UsageError("no such model file", str(target))
    names = resolve_model(target, allow_unvalidated=True).signature.input_names
    feeds = example_feeds(inputs, names, "inputs")
    return run_compare(target, runtimes=list(runtimes), baseline=baseline, module=module, feeds=feeds, tolerance=tol, locate=locate)
