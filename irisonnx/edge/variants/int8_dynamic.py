"""``int8-dynamic``: ``quant_pre_process`` then ``quantize_dynamic``. Activations are quantised
at run time with one scale per call, so a row's result depends on the other rows in the same
call (the gates measure it)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from irisonnx.edge.variants._ort import OrtVariant, QuantOptions, _preprocessed, _weight_types, int8_skip_reason
from irisonnx.edge.variants.base import Source


def _int8_dynamic(src: Path, work: Path, opts: QuantOptions) -> bytes:
    from onnxruntime.quantization import quantize_dynamic

    out = work / "int8-dynamic.onnx"
    quantize_dynamic(os.fspath(_preprocessed(src, work)), os.fspath(out), per_channel=opts.per_channel, reduce_range=opts.reduce_range, weight_type=_weight_types(opts)[1])
    return out.read_bytes()


class Int8Dynamic(OrtVariant):
    name = "int8-dynamic"
    kind = "int8"
    summary = "int8 weights, activations quantised per call"
    batch_note = " (activation scale is computed per call)"
    beyond_note = "; inputs beyond the calibrated range saturate"

    def skip_reason(self, src: Source) -> str | None:
        return int8_skip_reason(src.proto)

    def convert(self, src_file: Path, src: Source, work: Path, opts: Any, calibration: Any) -> bytes:
        return _int8_dynamic(src_file, work, opts)

    def settings(self, opts: Any, src: Source, made: Any = None, generic: bool = False) -> dict[str, Any]:
        return {"tool": "onnxruntime.quantization quant_pre_process + quantize_dynamic", "activations": "uint8, scale per call", "weights": opts.int8_weights, "per_channel": opts.per_channel, "reduce_range": opts.reduce_range}


VARIANT = Int8Dynamic()
