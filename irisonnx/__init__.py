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

_API = ("check", "CheckResult", "prepare_data", "predict", "build_edge", "create_runtime", "load_model", "signature")
_LAZY = {
    **{name: "irisonnx.api" for name in _API},
    "Predictor": "irisonnx.predictor",
    "Runtime": "irisonnx.runtimes.base",
    "Dataset": "irisonnx.data",
    "IrisOnnxError": "irisonnx.errors",
    "CheckFailed": "irisonnx.errors",
}


# API functions named like the submodule of their stage (irisonnx.train, irisonnx.report...).
# The import system binds a submodule onto the package when it is first imported, so these
# names are the submodules, made callable: ``irisonnx.train(ds)`` runs irisonnx.api.train,
# and ``import irisonnx.train as m`` / ``from irisonnx.train import ...`` work as before.
_STAGES = ("train", "verify", "export", "export_module", "compare", "report", "pipeline", "bench", "runtimes", "signature")


class _Stage(types.ModuleType):
    """A stage's submodule that is also its API function (see :data:`_STAGES`)."""

    def _api(self) -> Any:
        import importlib

        short = self.__name__.rpartition(".")[2]
        fn = getattr(importlib.import_module("irisonnx.api"), short, None)
        return fn if fn is not None else super().__getattribute__(short)  # export_module: the module's own function

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._api()(*args, **kwargs)

    @property
    def __signature__(self) -> Any:  # inspect.signature(irisonnx.train): the API function's
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
