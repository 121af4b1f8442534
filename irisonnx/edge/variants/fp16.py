"""``fp16``: ``onnxruntime.transformers.float16.convert_float_to_float16(keep_io_types=True)``
(ships with onnxruntime; no extra dependency), then the nodes are sorted again: the converter
appends its input/output Casts at the end, which onnx.checker rejects.

onnxruntime's CPU provider runs an fp16 graph in float32 with float16 weights, so the ONNX
reference evaluator (numpy float16 arithmetic) cross-checks it (:meth:`Fp16.reference`): what
a device with fp16 kernels computes, overflow above 65504 included."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from irisonnx.edge.variants._ort import OrtVariant, normalise_opsets, toposort
from irisonnx.edge.variants.base import Source

FP16_MAX = 65504.0
FP16_MIN_POSITIVE = 5.96e-08  # the converter clamps smaller magnitudes up to this, not to 0


def fp16_clamped(proto: Any) -> int:
    """How many float32 weights the fp16 conversion clamps (beyond ±65504, or non-zero below 5.96e-8)."""
    from onnx import TensorProto, numpy_helper

    n = 0
    for t in proto.graph.initializer:
        if t.data_type == TensorProto.FLOAT:
            a = np.abs(numpy_helper.to_array(t))
            n += int(((a > FP16_MAX) | ((a > 0) & (a < FP16_MIN_POSITIVE))).sum())
    return n


def fp16_skip_reason(proto: Any) -> str | None:
    """Why an fp16 variant would change nothing (None: it applies): no float32 weights and no
    float32 node the converter would turn into float16 (it keeps ai.onnx.ml and a few other
    ops in float32: DEFAULT_OP_BLOCK_LIST)."""
    from onnx import TensorProto
    from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST

    convertible = [n for n in proto.graph.node if n.op_type not in DEFAULT_OP_BLOCK_LIST and n.domain in ("", "ai.onnx")]
    floats = any(t.data_type == TensorProto.FLOAT for t in proto.graph.initializer)
    if not convertible:
        kept = sorted({n.op_type for n in proto.graph.node})
        return f"nothing to convert: the converter keeps every op of this graph in float32 ({', '.join(kept[:6])}{', ...' if len(kept) > 6 else ''})"
    if not floats and not any(spec.type.tensor_type.elem_type == TensorProto.FLOAT for spec in list(proto.graph.input) + list(proto.graph.output) + list(proto.graph.value_info)):
        return "no float32 weights or tensors to convert"
    return None


def _fp16(src_proto: Any) -> bytes:
    from onnxruntime.transformers.float16 import convert_float_to_float16

    proto = normalise_opsets(src_proto)  # a copy
    converted = convert_float_to_float16(proto, keep_io_types=True)
    toposort(converted.graph)
    return converted.SerializeToString()


def _io_changes(src: Any, vi: Any) -> list[str]:
    a = {s.name: s.dtype for s in list(src.inputs) + list(src.outputs)}
    return [f"{s.name} {a[s.name]} -> {s.dtype}" for s in list(vi.inputs) + list(vi.outputs) if s.name in a and a[s.name] != s.dtype]


class Fp16(OrtVariant):
    name = "fp16"
    kind = "fp16"
    summary = "float16 weights and arithmetic, float32 inputs/outputs"

    def skip_reason(self, src: Source) -> str | None:
        return fp16_skip_reason(src.proto)

    def convert(self, src_file: Path, src: Source, work: Path, opts: Any, calibration: Any) -> bytes:
        return _fp16(src.proto)

    def settings(self, opts: Any, src: Source, made: Any = None, generic: bool = False) -> dict[str, Any]:
        changed = _io_changes(src.info, made) if generic and made is not None else []
        return {"tool": "onnxruntime.transformers.float16.convert_float_to_float16", "keep_io_types": True, "io": "float32" if not generic else ("types kept" if not changed else "changed: " + ", ".join(changed))}

    def reference(self, made: Any) -> Any:
        """The ONNX reference evaluator on the fp16 file: true float16 arithmetic."""
        from irisonnx.runtimes import RuntimeContext, create

        return create("reference", RuntimeContext(model_path=made.path, model_info=made, output_names=made.output_names))

    def notes(self, res: Any, src: Source, n_random: int) -> list[str]:
        notes = ["onnxruntime's CPU provider here runs the fp16 graph in float32 with float16 weights; the 'reference' row is true float16 arithmetic, as a device with fp16 kernels computes it"]
        ref_bad = max((f.nonfinite for f in res.figures if f.runtime == "reference" and f.split == "random"), default=0)
        if ref_bad:
            notes.append(f"float16 overflows beyond ±65504: {ref_bad} values non-finite on the {n_random} random rows (which probe up to ±1e6)")
        clamped = fp16_clamped(src.proto)
        if clamped:
            notes.append(f"{clamped} weights outside float16's range were clamped")
        return notes

    def generic_notes(self, res: Any, src: Source, made: Any) -> list[str]:
        changed = _io_changes(src.info, made)
        return ["inputs and outputs keep their types (keep_io_types)" if not changed else f"input/output types changed: {', '.join(changed)}"]


VARIANT = Fp16()
