"""irisonnx: from PyTorch training to edge deployment, with numbers that prove parity.

The public Python API is imported lazily (PEP 562), so ``import irisonnx`` stays cheap (no
torch, onnx or onnxruntime until a function needs them)::

    import irisonnx
    result = irisonnx.check(my_module, {"image": x})  # export, run torch/ort-cpu/reference, compare
    assert result.passed, str(result)
"""

from typing import Any

__all__ = ["__version__", "check", "CheckResult", "export_module"]

__version__ = "0.1.0"

_LAZY = {"check": "irisonnx.api", "CheckResult": "irisonnx.api", "export_module": "irisonnx.export_module"}


def __getattr__(name: str) -> Any:
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'irisonnx' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(mod), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
