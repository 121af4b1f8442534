"""A user's own torch module, named on the command line as ``FILE.py:FACTORY``.

``FACTORY`` is a function (or class) in ``FILE.py`` that returns an ``nn.Module`` with its
weights loaded. The file is the user's own code, run as Python exactly as ``python FILE.py``
would run it: name only files you trust (irisonnx never loads pickled weights for it; load
yours with ``torch.load(..., weights_only=True)`` or safetensors inside the factory).
torch is imported only here, inside functions.
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from irisonnx.errors import ArtifactError, UsageError

__all__ = ["ModuleSpec", "parse_module_spec", "forward_names", "flatten_outputs"]


@dataclass
class ModuleSpec:
    """``FILE.py:FACTORY``, or an ``nn.Module`` object handed over by the Python API."""

    path: Path | None
    factory: str
    module: Any = None  # an nn.Module given directly (irisonnx.check)

    @property
    def label(self) -> str:
        return f"{self.path}:{self.factory}" if self.path else f"<{type(self.module).__name__} object>"

    def load(self) -> Any:
        """The module, in eval mode. Errors in the user's file are exit 2 with their first line."""
        if self.module is not None:
            return self.module.eval()
        import torch

        assert self.path is not None
        # Named after the file, not its folder: the name reaches exported models' per-node
        # metadata, which must not depend on where the file lies (see export._strip_stack_traces).
        name = "irisonnx_user_module_" + "".join(c if c.isalnum() else "_" for c in self.path.stem)
        spec = importlib.util.spec_from_file_location(name, self.path)
        if spec is None or spec.loader is None:
            raise UsageError("cannot load --module", str(self.path), "give a Python file: FILE.py:FACTORY")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        try:
            spec.loader.exec_module(mod)
        except Exception as exc:  # noqa: BLE001 - the user's file may raise anything
            raise UsageError(f"--module {self.path} failed to import", f"{type(exc).__name__}: {_first(exc)}") from None
        fn = getattr(mod, self.factory, None)
        if fn is None or not callable(fn):
            found = [k for k, v in vars(mod).items() if callable(v) and not k.startswith("_") and getattr(v, "__module__", None) == name]
            raise UsageError(f"--module {self.path} has no callable {self.factory!r}", f"it defines {', '.join(found) or 'nothing callable'}")
        try:
            model = fn()
        except Exception as exc:  # noqa: BLE001
            raise UsageError(f"--module {self.label}: the factory failed", f"{type(exc).__name__}: {_first(exc)}") from None
        if not isinstance(model, torch.nn.Module):
            raise UsageError(f"--module {self.label} returned a {type(model).__name__}", "the factory must return a torch.nn.Module with its weights loaded")
        return model.eval()


def _first(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def parse_module_spec(text: str | os.PathLike | Any) -> ModuleSpec:
    """``FILE.py:FACTORY`` (exit 2 when malformed or missing), or an nn.Module object."""
    if isinstance(text, ModuleSpec):
        return text
    if not isinstance(text, (str, os.PathLike)):
        return ModuleSpec(None, type(text).__name__, module=text)
    s = os.fspath(text)
    path, sep, factory = s.rpartition(":")
    if not sep or not path or not factory.isidentifier():
        raise UsageError("bad --module", repr(s), "use FILE.py:FACTORY, FACTORY a function returning an nn.Module")
    p = Path(path)
    if not p.is_file():
        raise UsageError("--module file not found", str(p))
    if p.suffix != ".py":
        raise UsageError("bad --module", f"{p} is not a .py file", "irisonnx runs Python source only, never pickled modules")
    return ModuleSpec(p, factory)


def forward_names(model: Any) -> list[str]:
    """The names of ``model.forward``'s positional parameters (the inputs, in order)."""
    sig = inspect.signature(model.forward)
    names = []
    for p in sig.parameters.values():
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            names.append(p.name)
        elif p.kind == p.VAR_POSITIONAL:
            raise UsageError(f"{type(model).__name__}.forward takes *{p.name}", "irisonnx feeds inputs by name: give forward named parameters")
    return names


def flatten_outputs(out: Any) -> list[Any]:
    """A forward's result as a flat list of tensors (a tensor, a tuple/list, or a dict in order)."""
    import torch

    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, dict):
        return [t for v in out.values() for t in flatten_outputs(v)]
    if isinstance(out, (list, tuple)):
        return [t for v in out for t in flatten_outputs(v)]
    raise ArtifactError(f"the module returned a {type(out).__name__}", "irisonnx compares tensors (a tensor, or tuples/lists/dicts of them)")
