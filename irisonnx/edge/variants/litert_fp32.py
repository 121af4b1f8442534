"""``litert-fp32``: the model as a float32 ``.tflite`` run by ai-edge-litert (the ``litert``
runtime's conversion: onnx2tf from the ONNX file, or litert-torch from the run's weights)."""

from __future__ import annotations

from irisonnx.edge.variants._litert import LiteRTVariant


class LiteRTFp32(LiteRTVariant):
    name = "litert-fp32"
    kind = "fp32-runtime"  # another runtime's float32: within compare's tolerance, not bit-close
    precision = "f32"
    summary = "LiteRT .tflite, float32 (ai-edge-litert)"


VARIANT = LiteRTFp32()
