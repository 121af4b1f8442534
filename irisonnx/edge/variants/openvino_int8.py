"""``openvino-int8``: NNCF post-training quantisation (``nncf.quantize``) of the source model in
OpenVINO, calibrated on the same rows or feeds as ``int8-static`` (the training split of a
run, or the generated/``--calibration`` feeds of any other model), saved as OpenVINO IR with
int8 weights and FakeQuantize on the activations; the rest runs in f32.

Ranges: global min/max over every calibration call (NNCF's ``MINMAX`` range estimator), as
int8-static's default minmax calibration: NNCF's own default averages each call's min/max,
which on the Iris MLP calibrated one row per call moved the logits by up to 1.7 (MINMAX: 0.07,
the same whatever the rows per call). Preset ``mixed``: symmetric weights, asymmetric
activations (ReLU outputs are never negative; 0.065 against 0.072 with ``performance``)."""

from __future__ import annotations

import contextlib
import io
import logging
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from irisonnx.edge.variants._openvino import OpenVinoVariant, openvino_version
from irisonnx.edge.variants.base import Source
from irisonnx.errors import UsageError


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """NNCF draws a progress bar on stdout and logs warnings through its own handler."""
    log = logging.getLogger("nncf")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        log.setLevel(level)


def calibration_items(calibration: Any, input_name: str, batch: int) -> list[dict[str, np.ndarray]]:
    """The calibration calls: rows of the one classifier input cut into ``batch``-row calls,
    or the given feeds as they are."""
    if isinstance(calibration, list):
        if not calibration:
            raise UsageError("no calibration inputs", "openvino-int8 needs inputs to calibrate on")
        return calibration
    if calibration is None or calibration.ndim != 2 or len(calibration) == 0:
        raise UsageError("openvino-int8 needs calibration rows", "no dataset", "pass a run folder, or --data for a bare .onnx file")
    x = np.ascontiguousarray(calibration, dtype=np.float32)
    return [{input_name: x[i : i + batch]} for i in range(0, len(x), batch)]


class OpenVinoInt8(OpenVinoVariant):
    name = "openvino-int8"
    kind = "int8"
    packages = ("openvino", "nncf")
    summary = "OpenVINO IR quantised to int8 by NNCF (post-training, calibrated like int8-static)"
    beyond_note = "; inputs beyond the calibrated range saturate"

    def make(self, src: Source, out_path: Path, work: Path, opts: Any, calibration: Any) -> None:
        items = calibration_items(calibration, src.info.input_names[0], getattr(opts, "calibration_batch", 64))
        model = self.read_source(src)
        with _quiet():
            import nncf
            from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters
            from nncf.quantization.range_estimator import RangeEstimatorParametersSet

            q = nncf.quantize(
                model,
                nncf.Dataset(items),
                preset=nncf.QuantizationPreset.MIXED,
                subset_size=len(items),
                advanced_parameters=AdvancedQuantizationParameters(activations_range_estimator_params=RangeEstimatorParametersSet.MINMAX),
            )
        self.save(q, out_path, src)

    def settings(self, opts: Any, src: Source, made: Any = None, generic: bool = False) -> dict[str, Any]:
        from importlib.metadata import version

        return {
            "tool": "nncf.quantize (post-training) + ov.save_model(compress_to_fp16=False)",
            "nncf": version("nncf"),
            "openvino": openvino_version(),
            "preset": "mixed",
            "range_estimator": "minmax (global min/max over the calibration calls)" + ("" if getattr(opts, "calibration_method", "minmax") == "minmax" else f"; --calibration-method {opts.calibration_method} applies to int8-static only"),
            "calibration": "see inputs.calibration" if generic else "training split",
            "inference_precision": "f32 (int8 where quantised)",
        }

    def notes(self, res: Any, src: Source, n_random: int) -> list[str]:
        rnd = [f for f in res.figures if f.split == "random"]
        if rnd and min(f.agreement for f in rnd) < 1.0:
            return ["inputs beyond the calibrated range saturate; random rows far outside the training range disagree more"]
        return []


VARIANT = OpenVinoInt8()
