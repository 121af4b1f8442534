"""``litert-fp16``: the float32 ``.tflite`` with its weights stored as float16
(ai-edge-quantizer's FLOAT_CASTING), dequantized when loaded: float32 arithmetic, half the
weight bytes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from irisonnx.edge.variants._litert import LiteRTVariant
from irisonnx.edge.variants.base import Source


class LiteRTFp16(LiteRTVariant):
    name = "litert-fp16"
    kind = "fp16"
    precision = "f16 weights"
    summary = "LiteRT .tflite, float16 weights (ai-edge-quantizer)"

    def convert(self, fp32: Path, out_path: Path, src: Source, calibration: Any) -> dict[str, Any]:
        from irisonnx.runtimes.litert_quant import quantizer_version, to_fp16

        to_fp16(fp32, out_path)
        return {"quantizer": f"ai-edge-quantizer {quantizer_version()}", "recipe": "FLOAT_CASTING weight-only, 16 bits (FULLY_CONNECTED, CONV_2D, DEPTHWISE_CONV_2D)"}


VARIANT = LiteRTFp16()
