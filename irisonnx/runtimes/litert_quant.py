"""float16 weights and calibrated int8 for a float32 ``.tflite``, with ai-edge-quantizer.

Both start from the float32 conversion (either route: onnx2tf or litert-torch), so they work
whichever converter made it, in irisonnx's own environment (ai-edge-quantizer comes with
litert-torch). ``fp16``: weights stored as float16 (``FLOAT_CASTING``), dequantized to float32
when loaded: the arithmetic stays float32. ``int8``: int8 weights and activations of
the matrix ops (:data:`INT8_OP_NAMES`; min/max calibration on the rows given), the rest float32;
where the model's inputs or outputs become int8 (a scale and zero point),
:class:`irisonnx.runtimes.litert.TFLiteModel` applies them so callers keep float arrays.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["to_fp16", "to_int8", "calibration_sets", "quantizer_version", "INT8_OP_NAMES"]

# The ops int8 quantizes (weights per channel, activations per tensor, min/max calibration);
# the rest stay float32 with quantize/dequantize around them. Not "every supported op": the
# run's MLP standardises its inputs inside the graph (SUB mean, MUL 1/std), and an int8
# per-tensor scale for those four constants costs 2.0 in the logits (29/30 test rows agree).
INT8_OP_NAMES = ("FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D", "BATCH_MATMUL")


def quantizer_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ai-edge-quantizer")
    except PackageNotFoundError:
        return "not installed"


def to_fp16(src: str | os.PathLike, out: str | os.PathLike) -> None:
    """``src`` (float32) with its weights cast to float16, written to ``out``."""
    from ai_edge_quantizer import quantizer
    from ai_edge_quantizer.algorithm_manager import AlgorithmName
    from ai_edge_quantizer.qtyping import TFLOperationName

    from irisonnx.runtimes.litert import quiet_output

    tail: list[str] = []
    with quiet_output(tail):
        q = quantizer.Quantizer(str(src))
        for op in (TFLOperationName.FULLY_CONNECTED, TFLOperationName.CONV_2D, TFLOperationName.DEPTHWISE_CONV_2D):
            q.add_weight_only_config(regex=".*", operation_name=op, num_bits=16, algorithm_key=AlgorithmName.FLOAT_CASTING)
        Path(out).write_bytes(bytes(q.quantize().quantized_model))


def calibration_sets(src: str | os.PathLike, feeds: list[dict[str, np.ndarray]], input_names: list[str]) -> dict[str, list[dict[str, np.ndarray]]]:
    """The calibration feeds (arrays by ONNX input name) shaped for every signature of the
    float32 ``src``: by signature key, a list of dicts by the tflite's input names; a static
    batch gets chunks of that many rows (the last one padded with its own rows), so each
    signature (litert-torch's batch-1 and batch-64 ones) sees the same rows: the same ranges."""
    from ai_edge_litert.interpreter import Interpreter

    from irisonnx.runtimes.litert import _match, quiet_output

    tail: list[str] = []
    with quiet_output(tail):
        interp = Interpreter(model_path=str(src))
        out: dict[str, list[dict[str, np.ndarray]]] = {}
        for key, io_names in interp.get_signature_list().items():
            names = list(io_names["inputs"])
            mapping = _match(list(input_names), names, "inputs")
            details = interp.get_signature_runner(key).get_input_details()
            sets: list[dict[str, np.ndarray]] = []
            for f in feeds:
                arrays = {mapping[k]: np.asarray(v, dtype=details[mapping[k]]["dtype"]) for k, v in f.items() if k in mapping}
                batch = int(details[names[0]]["shape_signature"][0]) if len(details[names[0]]["shape_signature"]) else -1
                if batch <= 0:
                    sets.append(arrays)
                    continue
                n = next(iter(arrays.values())).shape[0]
                for lo in range(0, n, batch):  # every row in every signature: the same min/max
                    chunk = {k: v[lo:lo + batch] for k, v in arrays.items()}
                    rows = next(iter(chunk.values())).shape[0]
                    if rows < batch:
                        chunk = {k: np.concatenate([v, np.resize(v, (batch - rows, *v.shape[1:]))]) for k, v in chunk.items()}
                    sets.append(chunk)
            out[key] = sets
    return out


def to_int8(src: str | os.PathLike, out: str | os.PathLike, feeds: list[dict[str, np.ndarray]], input_names: list[str]) -> None:
    """``src`` (float32) with int8 weights and activations, calibrated on ``feeds`` (arrays by
    ONNX input name; min/max over all of them), written to ``out``."""
    from ai_edge_quantizer import quantizer
    from ai_edge_quantizer.qtyping import TFLOperationName

    from irisonnx.runtimes.litert import quiet_output

    INT8_OPS = [getattr(TFLOperationName, n) for n in INT8_OP_NAMES]
    sets = calibration_sets(src, feeds, input_names)
    tail: list[str] = []
    with quiet_output(tail):
        q = quantizer.Quantizer(str(src))
        for op in INT8_OPS:
            q.add_static_config(regex=".*", operation_name=op, activation_num_bits=8, weight_num_bits=8)
        result = q.calibrate(sets, num_threads=1)
        Path(out).write_bytes(bytes(q.quantize(result).quantized_model))
