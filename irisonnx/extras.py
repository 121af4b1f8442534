"""Which optional install ("extra") a module comes from, and the one error that says so.

The base install (``pip install irisonnx``) carries what predict, inspect, compare without
torch and edge bundles need; training and export need ``[train]`` (torch, onnxscript), the
HTML report's plots ``[report]`` (matplotlib). A command that reaches a module that is not
installed ends with exit 4 and the install command, e.g.
``irisonnx: error: torch is not installed: pip install 'irisonnx[train]'``:
:func:`require` checks up front, and the CLI turns any ImportError of a listed module that
slips past into the same message (:func:`missing_module_error`).
"""

from __future__ import annotations

import importlib.util

from irisonnx.errors import RuntimeUnavailable

__all__ = ["EXTRAS", "MissingExtra", "missing_extra", "require", "missing_module_error"]

# top-level module -> the extra that installs it ("" = the base install)
EXTRAS: dict[str, str] = {
    "torch": "train",
    "onnxscript": "train",
    "matplotlib": "report",
    "starlette": "serve",
    "uvicorn": "serve",
    "tritonclient": "remote",
    "executorch": "executorch",
    "numpy": "",
    "onnx": "",
    "onnxruntime": "",
    "click": "",
    "tqdm": "",
    "safetensors": "",
}


class MissingExtra(RuntimeUnavailable):
    """A module of an extra (or of the base install) cannot be imported (exit 4)."""


def missing_extra(module: str) -> MissingExtra:
    """``<module> is not installed: pip install 'irisonnx[<extra>]'``."""
    extra = EXTRAS.get(module, "")
    target = f"'irisonnx[{extra}]'" if extra else "irisonnx"
    hint = "or onnxruntime-gpu, see the README's GPU install" if module == "onnxruntime" else ""
    return MissingExtra(f"{module} is not installed", f"pip install {target}", hint)


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a broken or blocked install counts as missing
        return False


def require(*modules: str) -> None:
    """Raise :class:`MissingExtra` for the first of ``modules`` that cannot be imported."""
    for m in modules:
        if not _importable(m):
            raise missing_extra(m)


def missing_module_error(exc: ImportError) -> MissingExtra | None:
    """The :class:`MissingExtra` for ``No module named 'torch'`` (a module listed in
    :data:`EXTRAS` that is not installed), else None: an installed package that fails to
    import is a broken install, not a missing extra, and keeps its own error."""
    name = getattr(exc, "name", None) or ""
    top = name.split(".")[0]
    if isinstance(exc, ModuleNotFoundError) and top in EXTRAS and not _importable(top):
        return missing_extra(top)
    return None
