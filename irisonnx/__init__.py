"""irisonnx: from PyTorch training to edge deployment, with numbers that prove parity.

The Python API (the CLI's second face; see docs/api.md) is imported lazily (PEP 562), so
``import irisonnx`` stays cheap: no torch, onnx, onnxruntime or numpy until a function
needs them::

    import irisonnx
    ds = irisonnx.prepare_data()                     # the bundled Iris
    run = irisonnx.train(ds, "runs/iris", epochs=20)
    exp = irisonnx.export(run.run_dir)               # result.passed: parity with torch
    res = irisonnx.compare(run.run_dir, runtimes=["torch", "ort-cpu", "reference"])
    assert res.passed, res.to_dict()

Every call that checks something returns a result with ``.passed``; exceptions
(:mod:`irisonnx.errors`) are for errors only. No call changes process-wide state.
"""

import sys
import types
from typing import Any

__all__ = [
    "__version__",
    "prepare_data",
    "train",
    "verify",
    "export",
    "export_module",
    "check",
    "CheckResult",
    "compare",
    "predict",
    "Predictor",
    "build_edge",
    "bench",
    "report",
    "pipeline",
    "runtimes",
    "Runtime",
    "create_runtime",
    "load_model",
    "signature",
    "Dataset",
    "IrisOnnxError",
    "CheckFailed",
]

__version__ = "0.1.0"

_API = ("check", "CheckResult", "prepare_data", "train", "verify", "predict", "build_edge", "create_runtime", "load_model", "signature")
_LAZY = {
    **{name: "irisonnx.api" for name in _API},
    "export_module": "irisonnx.export.export_module",
    "Predictor": "irisonnx.runtimes.ort_engine",
    "Runtime": "irisonnx.runtimes.base",
    "Dataset": "irisonnx.data.datastore",
    "IrisOnnxError": "irisonnx.errors",
    "CheckFailed": "irisonnx.errors",
}


# API functions named like the package of their stage (irisonnx.export, irisonnx.report...).
# The import system binds a subpackage onto the package when it is first imported, so these
# names are the packages, made callable: ``irisonnx.report(run)`` runs irisonnx.api.report,
# and ``from irisonnx.report.report import ...`` works beside it. The other API names
# (train, verify, signature, export_module...) are plain lazily imported functions.
_STAGES = ("export", "compare", "report", "pipeline", "bench", "runtimes")


class _Stage(types.ModuleType):
    """A stage's submodule that is also its API function (see :data:`_STAGES`)."""

    def _api(self) -> Any:
        import importlib

        return getattr(importlib.import_module("irisonnx.api"), self.__name__.rpartition(".")[2])

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._api()(*args, **kwargs)

    @property
    def __signature__(self) -> Any:  # inspect.signature(irisonnx.report): the API function's
        import inspect

        return inspect.signature(self._api())


class _Package(types.ModuleType):
    def __getattribute__(self, name: str) -> Any:
        value = super().__getattribute__(name)
        if name in _STAGES and type(value) is types.ModuleType:
            value.__class__ = _Stage
        return value


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str) -> Any:
    if name in _STAGES:
        import importlib

        importlib.import_module(f"{__name__}.{name}")  # binds it here; _Package makes it callable
        return getattr(sys.modules[__name__], name)
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'irisonnx' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(mod), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
