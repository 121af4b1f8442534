"""``litert-int8``: int8 weights and activations (ai-edge-quantizer's ``static_wi8_ai8``, min/max
calibration on the same rows as int8-static: the training split, or --calibration); the
model's inputs and outputs are int8 with a scale and zero point, applied by the runner."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from irisonnx.edge.variants._litert import LiteRTVariant, calibration_feeds
from irisonnx.edge.variants.base import Source


class LiteRTInt8(LiteRTVariant):
    name = "litert-int8"
    kind = "int8"
    precision = "int8"
    summary = "LiteRT .tflite, int8 weights and activations, calibrated (ai-edge-quantizer)"
    beyond_note = "; inputs beyond the calibrated range saturate"

    def convert(self, fp32: Path, out_path: Path, src: Source, calibration: Any) -> dict[str, Any]:
        from irisonnx.runtimes.litert_quant import quantizer_version, to_int8

        feeds = calibration_feeds(calibration, src)
        to_int8(fp32, out_path, feeds, [i.name for i in src.signature.inputs])
        n = sum(int(next(iter(f.values())).shape[0]) if next(iter(f.values())).ndim else 1 for f in feeds)
        return {"quantizer": f"ai-edge-quantizer {quantizer_version()}", "recipe": "static_wi8_ai8 (min/max)", "calibration": f"{n} rows"}


VARIANT = LiteRTInt8()
