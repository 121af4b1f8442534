"""``openvino-fp32``: the source ONNX read by OpenVINO's ONNX frontend and saved as OpenVINO IR
(``.xml`` + ``.bin``) with the weights in float32, run in f32 by OpenVINO's CPU plugin. Gated
like every fp32 variant: its outputs against the source model's in onnxruntime."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from irisonnx.edge.variants._openvino import OpenVinoVariant, openvino_version
from irisonnx.edge.variants.base import Source


class OpenVinoFp32(OpenVinoVariant):
    name = "openvino-fp32"
    kind = "fp32"
    summary = "OpenVINO IR (.xml + .bin), float32 weights, run in f32 by OpenVINO's CPU plugin"

    def make(self, src: Source, out_path: Path, work: Path, opts: Any, calibration: Any) -> None:
        self.save(self.read_source(src), out_path, src)

    def settings(self, opts: Any, src: Source, made: Any = None, generic: bool = False) -> dict[str, Any]:
        return {"tool": "OpenVINO ONNX frontend + ov.save_model(compress_to_fp16=False)", "openvino": openvino_version(), "weights": "float32", "inference_precision": "f32"}

    def notes(self, res: Any, src: Source, n_random: int) -> list[str]:
        rnd = [f for f in res.figures if f.split == "random" and f.runtime == self.runtime]
        bad = max((f.n_fail for f in rnd), default=0)
        if not bad:
            return []
        return [f"on the random rows within and far beyond the training range (not gated) {bad:,} output element(s) differ from fp32 beyond the tolerance (max abs {max(f.max_abs for f in rnd):.3g}): float32 rounding in another order of operations, where large terms cancel"]


VARIANT = OpenVinoFp32()
