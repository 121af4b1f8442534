"""What ``irisonnx inspect`` shows about a checked model: its signature, metadata, ops,
opsets, weight bytes, external data, and the manifest's record of it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from irisonnx.modelfile.onnx_io import ModelInfo, _all_tensors, _iter_nodes

__all__ = ["describe"]


def _tensor_bytes(t: Any, n: int) -> int:
    """A tensor's raw size in bytes: its raw_data, its external length, or elements x item size."""
    from onnx import TensorProto

    if t.data_location == TensorProto.EXTERNAL:
        entries = {e.key: e.value for e in t.external_data}
        if "length" in entries and entries["length"].isdigit():
            return int(entries["length"])
    elif t.raw_data:
        return len(t.raw_data)
    if t.data_type == TensorProto.STRING:
        return sum(len(v) for v in t.string_data)
    return (n * _ITEM_BITS.get(t.data_type, 0) + 7) // 8


def _external_files(model: Any, path: Path) -> dict[str, int]:
    """{external data file: bytes the model reads from it} (locations were checked at load)."""
    from onnx import TensorProto

    files: dict[str, int] = {}
    for t in _all_tensors(model):
        if t.data_location != TensorProto.EXTERNAL:
            continue
        entries = {e.key: e.value for e in t.external_data}
        loc = entries.get("location", "")
        if "length" in entries and entries["length"].isdigit():
            n = int(entries["length"])
        else:
            try:
                n = (path.parent / loc).stat().st_size - int(entries.get("offset", "0") or 0)
            except (OSError, ValueError):
                n = 0
        files[loc] = files.get(loc, 0) + n
    return dict(sorted(files.items()))


def describe(info: ModelInfo) -> dict[str, Any]:
    """Everything ``irisonnx inspect`` shows, as plain data."""
    from collections import Counter

    model = info.proto
    ops: Counter[str] = Counter()
    for node in _iter_nodes(model.graph):
        ops[f"{node.domain}::{node.op_type}" if node.domain not in ("", "ai.onnx") else node.op_type] += 1
    n_params = 0
    n_bytes = 0
    for t in model.graph.initializer:
        n = 1
        for d in t.dims:
            n *= int(d)
        n_params += n
        n_bytes += _tensor_bytes(t, n)
    out: dict[str, Any] = {
        "path": str(info.path),
        "size": info.size,
        "sha256": info.sha256,
        "ir_version": int(model.ir_version),
        "producer": f"{model.producer_name} {model.producer_version}".strip(),
        "opset_imports": info.opset_imports,
        "inputs": [i.to_dict() for i in info.inputs],
        "outputs": [o.to_dict() for o in info.outputs],
        "operators": dict(sorted(ops.items(), key=lambda kv: (-kv[1], kv[0]))),
        "n_nodes": sum(ops.values()),
        "n_initializers": len(model.graph.initializer),
        "n_parameters": n_params,
        "initializer_bytes": n_bytes,
        "external_data": info.has_external_data,
        "external_data_files": _external_files(model, info.path) if info.has_external_data else {},
        "opset_declarations": [{"domain": o.domain or "ai.onnx", "version": int(o.version)} for o in model.opset_import],
        "irisonnx_metadata": info.has_irisonnx_metadata,
        "irisonnx_model": info.has_irisonnx_metadata,
        "classifier": info.is_classifier,
        "class_names": info.class_names,
        "feature_names": info.feature_names,
        "feature_units": info.feature_units,
        "metadata": info.parsed_metadata(),
        "doc_string": model.doc_string,
    }
    if model.functions:
        out["functions"] = [f"{f.domain}::{f.name}" for f in model.functions]
    if info.manifest_entry is not None:
        out["manifest"] = info.manifest_entry
    if info.export_record is not None:
        out["validation"] = info.export_record
    return out
