"""A user's own torch module -> ONNX, validated as runs are: onnx.checker, then parity.

``irisonnx export --module FILE.py:FACTORY --example FILE.npz --out model.onnx``. The graph's
inputs are named after ``forward``'s parameters, in order; the example gives one array per
parameter (the arrays fix dtypes and every static size). Axis 0 of every input is dynamic
("batch") unless ``static``; ``--dynamic NAME:AXIS=DIMNAME`` adds more (or renames the batch).

The order is export_run's: export into memory, put the metadata inside (no absolute paths),
write one file atomically after ``onnx.checker`` (full_check) passed on it, load it back as
every command will (:func:`irisonnx.modelfile.onnx_io.load_model_safely`), then compare onnxruntime
with torch through the one comparator (:func:`irisonnx.compare.runner.run_compare`): on the
example, and on a second batch size when the batch is dynamic. A mismatch raises CheckFailed
(exit 1); the file stays for inspection, its metadata marked ``irisonnx_validated: false``.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from irisonnx.errors import CheckFailed, DataError, UsageError

__all__ = ["ModuleExportResult", "export_module", "parse_dynamic", "read_example", "example_feeds"]

BATCH_DIM = "batch"


@dataclass
class ModuleExportResult:
    path: Path
    module: str  # FILE.py:FACTORY as given (a name, not an absolute path), or <Class object>
    exporter: str
    opset: int
    inputs: list[dict[str, Any]]  # the ONNX signature: {name, dtype, shape}
    outputs: list[dict[str, Any]]
    dynamic: dict[str, dict[int, str]]
    sha256: str
    size: int
    export_seconds: float
    check_seconds: float
    parity: list[Any] = field(default_factory=list)  # CompareResult per batch size
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def validated(self) -> bool:
        return bool(self.parity) and all(r.passed for r in self.parity)

    @property
    def passed(self) -> bool:
        """The parity check's outcome (the API's one way to signal it; same as ``validated``)."""
        return self.validated

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "module": self.module,
            "exporter": self.exporter,
            "opset": self.opset,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "dynamic": {k: {str(a): d for a, d in v.items()} for k, v in self.dynamic.items()},
            "sha256": self.sha256,
            "size": self.size,
            "export_seconds": round(self.export_seconds, 4),
            "check_seconds": round(self.check_seconds, 4),
            "validated": self.validated,
            "parity": [_parity_dict(r) for r in self.parity],
            "metadata": self.metadata,
        }


def _parity_dict(res: Any) -> dict[str, Any]:
    """One parity run, in export's terms: the worst figures over every output, plus compare's pairs."""
    outs = [s for p in res.pairs for s in p.outputs.values()]
    return {
        "inputs": res.inputs,
        "n_rows": res.n_rows,
        "tolerance": res.tolerance.to_dict(),
        "max_abs_err": max((s.max_abs for s in outs), default=0.0),
        "max_rel_err": max((s.max_rel for s in outs), default=0.0),
        "passed": res.passed,
        "pairs": [p.to_dict() for p in res.pairs],
    }


# --- flags -------------------------------------------------------------------------------


def parse_dynamic(items: Sequence[str] | None) -> list[tuple[str, int, str]]:
    """``--dynamic NAME:AXIS=DIMNAME`` -> (input, axis, dim name)."""
    out = []
    for item in items or ():
        left, eq, dim = item.partition("=")
        name, colon, axis = left.rpartition(":")
        ok = eq and colon and name and dim.isidentifier() and axis.strip().lstrip("-").isdigit()
        if not ok:
            raise UsageError("bad --dynamic", repr(item), "use NAME:AXIS=DIMNAME, e.g. --dynamic ids:1=seq")
        out.append((name, int(axis), dim))
    return out


def read_example(path: str | os.PathLike, names: Sequence[str]) -> dict[str, np.ndarray]:
    """``--example``: a .npz with one array per forward parameter (a .npy for a one-input forward)."""
    from irisonnx.compare.inputs import _read_file_feeds

    p = Path(path)
    if p.suffix.lower() == ".npy":
        if len(names) != 1:
            raise DataError(f"--example {p}: a .npy holds one array", f"forward takes {len(names)} ({', '.join(names)})", "give a .npz with one array per parameter name")
        from irisonnx.data.predict_io import read_npy

        if not p.is_file():
            raise UsageError("--example file not found", str(p))
        return {names[0]: read_npy(p).x}
    if p.suffix.lower() != ".npz":
        raise UsageError("bad --example", str(p), "give a .npz with one array per forward parameter (or a .npy for one)")
    (arrays,) = _read_file_feeds(os.fspath(p), None, None)
    return arrays


def example_feeds(inputs: Any, names: Sequence[str], where: str = "example") -> dict[str, np.ndarray]:
    """Arrays by forward parameter name from a dict, a tuple/list in forward order, or one
    array (numpy arrays or torch tensors). Missing or extra names are exit 2, named."""
    if isinstance(inputs, Mapping):
        given = dict(inputs)
    elif isinstance(inputs, (tuple, list)):
        if len(inputs) != len(names):
            raise DataError(f"{where}: {len(inputs)} arrays for {len(names)} inputs", f"the inputs are {', '.join(names)}", "give them in this order, or as a dict by name")
        given = dict(zip(names, inputs))
    else:
        given = {names[0]: inputs} if len(names) == 1 else None
        if given is None:
            raise DataError(f"{where}: one array for {len(names)} inputs", f"the inputs are {', '.join(names)}", "give a dict by name or a tuple in this order")
    missing = [n for n in names if n not in given]
    extra = [k for k in given if k not in names]
    if missing or extra:
        parts = ([f"missing {', '.join(map(repr, missing))}"] if missing else []) + ([f"extra {', '.join(map(repr, extra))}"] if extra else [])
        raise DataError(f"{where}: {'; '.join(parts)}", f"the inputs are {', '.join(names) or 'none'}", "name each array after its input")
    out = {}
    for n in names:
        v = given[n]
        if hasattr(v, "detach") and hasattr(v, "numpy"):  # a torch tensor (torch not imported here)
            v = v.detach().cpu().numpy()
        try:
            a = np.asarray(v)
        except (ValueError, TypeError) as exc:
            raise DataError(f"{where}: {n!r} is not an array", str(exc).splitlines()[0]) from None
        if a.dtype.kind not in "fiub":
            raise DataError(f"{where}: {n!r} has dtype {a.dtype}", "give a numeric or bool array")
        out[n] = np.ascontiguousarray(a)
    return out


# --- export ------------------------------------------------------------------------------


def _dynamic_axes(example: dict[str, np.ndarray], extra: list[tuple[str, int, str]], static: bool) -> dict[str, dict[int, str]]:
    axes: dict[str, dict[int, str]] = {n: ({0: BATCH_DIM} if not static and a.ndim else {}) for n, a in example.items()}
    for name, axis, dim in extra:
        if name not in example:
            raise UsageError(f"--dynamic names unknown input {name!r}", f"the inputs are {', '.join(example)}")
        nd = example[name].ndim
        if not -nd <= axis < nd:
            raise UsageError(f"--dynamic {name}:{axis}: no such axis", f"{name} has {nd} dimensions in the example")
        axes[name][axis % nd] = dim
    return {k: v for k, v in axes.items() if v}


def _tracing_example(example: dict[str, np.ndarray], axes: dict[str, dict[int, str]]) -> dict[str, np.ndarray]:
    """torch.export specialises a dynamic dimension of size 0 or 1 to a constant: repeat such
    axes to 2 for the export call only (values do not matter to the graph, shapes do)."""
    out = dict(example)
    for name, ax in axes.items():
        for axis in ax:
            if out[name].shape[axis] < 2:
                if out[name].shape[axis] == 0:
                    raise DataError(f"--example {name!r} is empty along axis {axis}", "give at least one row")
                out[name] = np.ascontiguousarray(np.repeat(out[name], 2, axis=axis))
    return out


def _export(model: Any, example: dict[str, np.ndarray], names: list[str], out_names: list[str], axes: dict[str, dict[int, str]], exporter: str, opset: int) -> Any:
    import io

    import onnx
    import torch

    from irisonnx.export.export import _opset_hint, _quiet_exporter, _strip_stack_traces

    args = tuple(torch.from_numpy(example[n]) for n in names)
    with _quiet_exporter(), torch.no_grad():
        try:
            if exporter == "dynamo":
                dims = {d: torch.export.Dim(d) for ax in axes.values() for d in ax.values()}
                shapes = {n: {a: dims[d] for a, d in axes.get(n, {}).items()} or None for n in names}
                prog = torch.onnx.export(model, args, dynamo=True, input_names=names, output_names=out_names, dynamic_shapes=shapes, opset_version=opset, verbose=False, optimize=True)
                return _strip_stack_traces(prog.model_proto)
            buf = io.BytesIO()
            out_axes = {}
            batch = {ax.get(0) for ax in axes.values()}
            if len(batch) == 1 and None not in batch:  # every input's rows share one dim: so do the outputs'
                (dim,) = batch
                out_axes = {o: {0: dim} for o in out_names}
            torch.onnx.export(model, args, buf, dynamo=False, input_names=names, output_names=out_names, dynamic_axes={**axes, **out_axes}, opset_version=opset, do_constant_folding=True)
            return onnx.load_model_from_string(buf.getvalue())
        except Exception as exc:  # noqa: BLE001 - exporter errors have no common base class
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            hint = _opset_hint(exporter)
            if axes and ("Constraint" in first or "specializ" in first or "dynamic" in first.lower()):
                hint = "a dimension marked dynamic is fixed by the model: drop it from --dynamic, or pass --static"
            raise UsageError(f"the {exporter} exporter cannot export {type(model).__name__}", first, hint) from None


def _metadata(spec: Any, exporter: str, opset: int, names: list[str], out_names: list[str], axes: dict[str, dict[int, str]]) -> dict[str, str]:
    from irisonnx.training.run import library_versions
    from irisonnx.storage import sha256_file

    versions = library_versions("torch", "onnx", "onnxscript", "onnxruntime")
    meta = {
        "irisonnx_export": "module",
        "module": spec_label(spec),
        "input_names": json.dumps(names),
        "output_names": json.dumps(out_names),
        "dynamic_axes": json.dumps({k: {str(a): d for a, d in v.items()} for k, v in axes.items()}, sort_keys=True),
        "irisonnx_version": versions["irisonnx"],
        "torch_version": versions["torch"],
        "onnx_version": versions["onnx"],
        "exporter": exporter,
        "opset": str(opset),
    }
    if spec.path is not None:
        meta["module_sha256"] = sha256_file(spec.path)
    if exporter == "dynamo":
        meta["onnxscript_version"] = versions["onnxscript"]
    return meta


def spec_label(spec: Any) -> str:
    """FILE.py:FACTORY with the file's name only: a model carries no builder's file system."""
    return f"{spec.path.name}:{spec.factory}" if spec.path is not None else f"<{type(spec.module).__name__} object>"


def _set_metadata(proto: Any, meta: dict[str, str]) -> None:
    existing = {p.key: p.value for p in proto.metadata_props}
    del proto.metadata_props[:]
    for k, v in {**existing, **meta}.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, v


def _second_batch(example: dict[str, np.ndarray], axes: dict[str, dict[int, str]]) -> dict[str, np.ndarray] | None:
    """The example at another batch size (rows taken cyclically): 1 when it has several, 3 when one."""
    batch = {ax.get(0) for ax in axes.values()}
    if len(axes) != len(example) or len(batch) != 1 or None in batch:
        return None  # not every input's rows are one dynamic dimension
    rows = {a.shape[0] for a in example.values()}
    if len(rows) != 1:
        return None
    n = rows.pop()
    idx = np.arange(1) if n > 1 else np.zeros(3, dtype=np.int64)
    return {k: np.ascontiguousarray(v[idx]) for k, v in example.items()}


def export_module(
    module: Any,
    example: Any,
    out: str | os.PathLike,
    *,
    exporter: str = "dynamo",
    opset: int | None = None,
    dynamic: Sequence[str] | Sequence[tuple[str, int, str]] = (),
    static: bool = False,
    output_names: Sequence[str] | None = None,
    atol: float = 1e-5,
    rtol: float = 1e-5,
    parity: bool = True,
) -> ModuleExportResult:
    """Export ``module`` (``FILE.py:FACTORY``, a ModuleSpec or an nn.Module) with ``example``
    (a .npz path, or arrays: see :func:`example_feeds`) to ``out``, check it and prove parity
    with torch (unless ``parity`` is False: :func:`irisonnx.check` runs its own comparison).

    Raises CheckFailed (exit 1) on a mismatch, with ``.result`` the full ModuleExportResult;
    the file is kept with ``irisonnx_validated: false`` in its metadata."""
    from irisonnx.export.export import DEFAULT_OPSET, _check_args, _opset_hint, _write_model
    from irisonnx.training.module import ModuleSpec, flatten_outputs, forward_names, parse_module_spec

    opset = DEFAULT_OPSET if opset is None else opset
    _check_args(exporter, opset, atol, rtol)
    target = Path(out)
    if target.suffix != ".onnx":
        raise UsageError("output must be an .onnx file", str(target), "name it e.g. model.onnx")
    if target.is_dir():
        raise UsageError("output path is a folder", str(target), "give a file name ending in .onnx")
    extra = [d if isinstance(d, tuple) else parse_dynamic([d])[0] for d in dynamic]
    spec = module if isinstance(module, ModuleSpec) else parse_module_spec(module)
    model = spec.load()
    names = forward_names(model)
    if not names:
        raise UsageError(f"{type(model).__name__}.forward takes no inputs", "nothing to export")
    if isinstance(example, (str, os.PathLike)):
        feeds = example_feeds(read_example(example, names), names, f"--example {example}")
    else:
        feeds = example_feeds(example, names)
    axes = _dynamic_axes(feeds, extra, static)

    import torch

    with torch.no_grad():
        try:
            ref = flatten_outputs(model(*(torch.from_numpy(feeds[n]) for n in names)))
        except Exception as exc:  # noqa: BLE001 - the user's forward may raise anything
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DataError(f"{spec.label}: forward fails on the example", f"{type(exc).__name__}: {first}", "check the example's shapes and dtypes") from None
    out_names = list(output_names) if output_names else [f"output_{i}" for i in range(len(ref))]
    if len(out_names) != len(ref):
        raise UsageError(f"{len(out_names)} output names for {len(ref)} outputs", f"--output-names {','.join(out_names)}", f"give {len(ref)} names")
    clash = sorted({n for n in out_names if out_names.count(n) > 1 or n in names})
    if clash or not all(out_names):
        raise UsageError("bad --output-names", f"{', '.join(map(repr, clash)) or 'an empty name'}", "give distinct names, none equal to an input's")

    t0 = time.perf_counter()
    proto = _export(model, _tracing_example(feeds, axes), names, out_names, axes, exporter, opset)
    export_seconds = time.perf_counter() - t0
    got = {o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")}
    if got != {opset}:
        raise UsageError(f"the {exporter} exporter produced opset {sorted(got)}, not the {opset} asked for", "version conversion failed", _opset_hint(exporter))
    graph_inputs = [i.name for i in proto.graph.input if i.name not in {t.name for t in proto.graph.initializer}]
    if graph_inputs != names:
        dropped = [n for n in names if n not in graph_inputs]
        raise UsageError(f"the exported graph takes {', '.join(graph_inputs) or 'no inputs'}, not forward's {', '.join(names)}", f"unused parameter(s) dropped by the exporter: {', '.join(dropped) or 'none'}", "remove unused parameters from forward")
    meta = _metadata(spec, exporter, opset, names, out_names, axes)
    _set_metadata(proto, meta)
    proto.doc_string = f"{spec_label(spec)} exported by irisonnx with torch {meta['torch_version']} ({exporter} exporter, opset {opset}); inputs {', '.join(names)}; outputs {', '.join(out_names)}."
    check_seconds = _write_model(proto, target)

    from irisonnx.modelfile.onnx_io import load_model_safely

    info = load_model_safely(target)  # what every command will see: refuse it now if it would
    result = ModuleExportResult(target, spec_label(spec), exporter, opset, [i.to_dict() for i in info.signature.inputs], [o.to_dict() for o in info.signature.outputs], axes, info.sha256, info.size, export_seconds, check_seconds, [], meta)
    if not parity:
        return result
    loaded = ModuleSpec(spec.path, spec.factory, module=model)  # the same object: no second import
    result.parity = [_parity(target, loaded, f, atol, rtol, label) for f, label in ((feeds, "the example"), (_second_batch(feeds, axes), "the example at another batch size")) if f is not None]
    if not result.validated:
        _set_metadata(proto, {"irisonnx_validated": "false"})
        _write_model(proto, target)
        info = load_model_safely(target)
        result.sha256, result.size, result.metadata = info.sha256, info.size, {**meta, "irisonnx_validated": "false"}
        bad = [r for r in result.parity if not r.passed]
        worst = max((s.max_abs for r in bad for p in r.pairs for s in p.outputs.values()), default=0.0)
        failing = sorted({s.output for r in bad for p in r.pairs for s in p.outputs.values() if not s.passed})
        err = CheckFailed(
            "ONNX model disagrees with torch",
            f"output(s) {', '.join(failing)} on {' and '.join(r.inputs for r in bad)}: max abs err {worst:.3g} (tolerance {atol:g} + {rtol:g}*|torch|)",
            f"{target} is kept for inspection, marked irisonnx_validated: false in its metadata",
        )
        err.result = result  # type: ignore[attr-defined]
        raise err
    return result


def _parity(target: Path, spec: Any, feeds: dict[str, np.ndarray], atol: float, rtol: float, label: str) -> Any:
    from irisonnx.compare.stats import Tolerance
    from irisonnx.compare.runner import run_compare

    res = run_compare(target, runtimes=["torch", "ort-cpu"], module=spec, feeds=feeds, tolerance=Tolerance("close", atol, rtol))
    rows = next(iter(feeds.values())).shape[0] if next(iter(feeds.values())).ndim else 1
    res.inputs = f"{label} ({rows} rows)"
    return res
