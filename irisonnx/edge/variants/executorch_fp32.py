"""``executorch-fp32``: the torch module as an ExecuTorch program for the XNNPACK delegate,
float32 (see :mod:`irisonnx.edge.variants._executorch`)."""

from __future__ import annotations

from irisonnx.edge.variants._executorch import ExecuTorchVariant


class ExecuTorchFp32(ExecuTorchVariant):
    name = "executorch-fp32"
    kind = "fp32"
    summary = "ExecuTorch .pte from the torch module (torch.export + XNNPACK), float32"

    @property
    def gate(self) -> str:
        """Another runtime's float32 sums: compare's tolerance (irisonnx.edge.gates.RUNTIME_FP32),
        not fp32-opt's max abs error."""
        return "fp32-runtime"


VARIANT = ExecuTorchFp32()
