"""The edge variants, one file each, behind one registry.

Adding a variant is one file (a :class:`~irisonnx.edge.variants.base.Variant` subclass and a
``VARIANT`` instance) plus one line here. The order is the canonical order (``--variants``
default, bundle order); the first is the source model every other variant is compared with.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from irisonnx.edge.variants.base import Variant

__all__ = ["REGISTRY", "VARIANTS", "DEFAULT_VARIANTS", "DEFAULT", "NAMED_ONLY", "get"]

# name -> "module:object" (imported only when the variant is used)
REGISTRY: dict[str, str] = {
    "fp32": "irisonnx.edge.variants.fp32:VARIANT",
    "fp32-opt": "irisonnx.edge.variants.fp32_opt:VARIANT",
    "int8-dynamic": "irisonnx.edge.variants.int8_dynamic:VARIANT",
    "int8-static": "irisonnx.edge.variants.int8_static:VARIANT",
    "fp16": "irisonnx.edge.variants.fp16:VARIANT",
    "openvino-fp32": "irisonnx.edge.variants.openvino_fp32:VARIANT",
    "openvino-int8": "irisonnx.edge.variants.openvino_int8:VARIANT",
    "executorch-fp32": "irisonnx.edge.variants.executorch_fp32:VARIANT",
    "executorch-int8": "irisonnx.edge.variants.executorch_int8:VARIANT",
    "litert-fp32": "irisonnx.edge.variants.litert_fp32:VARIANT",
    "litert-fp16": "irisonnx.edge.variants.litert_fp16:VARIANT",
    "litert-int8": "irisonnx.edge.variants.litert_int8:VARIANT",
}
VARIANTS: tuple[str, ...] = tuple(REGISTRY)
# What edge builds when no --variants are named: the onnxruntime family. The other families
# (openvino-*, executorch-*, litert-*) convert with their own toolkits (seconds each; a torch
# module for ExecuTorch) and need their own package (an extra): they are built when named, and
# predict.py runs each with that family's runtime.
DEFAULT_VARIANTS: tuple[str, ...] = ("fp32", "fp32-opt", "int8-dynamic", "int8-static", "fp16")
DEFAULT = DEFAULT_VARIANTS
NAMED_ONLY: frozenset[str] = frozenset(n for n in REGISTRY if n not in DEFAULT_VARIANTS)


def get(name: str) -> Variant:
    """The variant called ``name``; UsageError for an unknown one."""
    target = REGISTRY.get(name)
    if target is None:
        from irisonnx.errors import UsageError

        raise UsageError("unknown variant", repr(name), f"choose from {', '.join(REGISTRY)}")
    module, _, obj = target.partition(":")
    return getattr(importlib.import_module(module), obj)  # type: ignore[no-any-return]
