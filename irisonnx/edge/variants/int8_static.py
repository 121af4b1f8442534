"""``int8-static``: ``quant_pre_process`` then ``quantize_static`` in QDQ format, calibrated
through a ``CalibrationDataReader`` over the training split (or the given rows/feeds)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from irisonnx.edge.variants._ort import OrtVariant, QuantOptions, _calibration_reader, _feeds_reader, _preprocessed, _weight_types, int8_skip_reason
from irisonnx.edge.variants.base import Source
from irisonnx.errors import UsageError


def _int8_static(src: Path, work: Path, opts: QuantOptions, calibration: Any, input_name: str) -> bytes:
    """``calibration``: rows of the one classifier input (an array), or a list of feeds by
    input name (any signature; each one calibration call)."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, quantize_static

    if isinstance(calibration, list):
        if not calibration:
            raise UsageError("no calibration inputs", "int8-static needs inputs to calibrate on")
        reader = _feeds_reader(calibration)
    elif calibration.ndim != 2 or len(calibration) == 0:
        raise UsageError("no calibration rows", f"shape {calibration.shape}", "int8-static needs the training split (or rows) to calibrate on")
    else:
        reader = _calibration_reader(calibration, input_name, opts.calibration_batch)
    act, weight = _weight_types(opts)
    out = work / "int8-static.onnx"
    method = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy, "percentile": CalibrationMethod.Percentile}[opts.calibration_method]
    quantize_static(
        os.fspath(_preprocessed(src, work)),
        os.fspath(out),
        reader,
        quant_format=QuantFormat.QDQ,
        per_channel=opts.per_channel,
        reduce_range=opts.reduce_range,
        activation_type=act,
        weight_type=weight,
        calibrate_method=method,
    )
    return out.read_bytes()


class Int8Static(OrtVariant):
    name = "int8-static"
    kind = "int8"
    summary = "int8 weights and activations, calibrated (QDQ)"
    beyond_note = "; inputs beyond the calibrated range saturate"

    def skip_reason(self, src: Source) -> str | None:
        return int8_skip_reason(src.proto)

    def convert(self, src_file: Path, src: Source, work: Path, opts: Any, calibration: Any) -> bytes:
        if calibration is None:
            raise UsageError("int8-static needs calibration rows", "no dataset", "pass a run folder, or --data for a bare .onnx file")
        return _int8_static(src_file, work, opts, calibration, src.info.input.name)

    def settings(self, opts: Any, src: Source, made: Any = None, generic: bool = False) -> dict[str, Any]:
        return {"tool": "onnxruntime.quantization quant_pre_process + quantize_static", "format": "QDQ", "activations": opts.int8_weights, "weights": opts.int8_weights, "per_channel": opts.per_channel, "reduce_range": opts.reduce_range, "calibration_method": opts.calibration_method, "calibration": "see inputs.calibration" if generic else "training split"}

    def notes(self, res: Any, src: Source, n_random: int) -> list[str]:
        rnd = [f for f in res.figures if f.split == "random"]
        if rnd and min(f.agreement for f in rnd) < 1.0:
            return ["inputs beyond the calibrated range saturate; random rows far outside the training range disagree more"]
        return []


VARIANT = Int8Static()
