"""``executorch-int8``: the torch module PT2E-quantised with the XNNPACK quantizer (int8
weights per channel, int8 activations calibrated on the rows int8-static calibrates on), as
an ExecuTorch program for the XNNPACK delegate (see :mod:`irisonnx.edge.variants._executorch`)."""

from __future__ import annotations

from irisonnx.edge.variants._executorch import ExecuTorchVariant


class ExecuTorchInt8(ExecuTorchVariant):
    name = "executorch-int8"
    kind = "int8"
    int8 = True
    summary = "ExecuTorch .pte, PT2E int8 (XNNPACK quantizer, calibrated)"
    beyond_note = "; inputs beyond the calibrated range saturate"


VARIANT = ExecuTorchInt8()
