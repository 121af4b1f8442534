"""Runtime registry. Adding a runtime is one new file plus one line in REGISTRY."""

from __future__ import annotations

import importlib

from irisonnx.errors import UsageError
from irisonnx.runtimes.base import Intermediate, Runtime, RuntimeContext

__all__ = ["REGISTRY", "Runtime", "RuntimeContext", "Intermediate", "create", "parse_spec"]

# name -> "module:Class"; a spec may carry an option after a colon, e.g. "ort-cpu:O0".
REGISTRY: dict[str, str] = {
    "torch": "irisonnx.runtimes.torch_eager:TorchRuntime",
    "ort-cpu": "irisonnx.runtimes.onnxruntime:OrtCpuRuntime",
    "ort-cuda": "irisonnx.runtimes.onnxruntime:OrtCudaRuntime",
    "reference": "irisonnx.runtimes.reference:ReferenceRuntime",
    "golden": "irisonnx.runtimes.golden:GoldenRuntime",
    "web": "irisonnx.runtimes.web:WebRuntime",
    "remote": "irisonnx.runtimes.remote:RemoteRuntime",
    "openvino": "irisonnx.runtimes.openvino:OpenVinoRuntime",
    "executorch": "irisonnx.runtimes.executorch:ExecuTorchRuntime",
    "litert": "irisonnx.runtimes.litert:LiteRTRuntime",
}


def parse_spec(spec: str) -> tuple[str, str]:
    name, _, option = spec.strip().partition(":")
    if name not in REGISTRY:
        raise UsageError(f"unknown runtime {name!r}", f"choose from {', '.join(REGISTRY)}")
    return name, option


def create(spec: str, ctx: RuntimeContext) -> Runtime:
    name, option = parse_spec(spec)
    module, _, cls = REGISTRY[name].partition(":")
    return getattr(importlib.import_module(module), cls)(ctx, option)
