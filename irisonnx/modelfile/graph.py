"""Graph surgery on an ONNX model: expose every intermediate tensor by name (the runtimes use
it so compare's ``--locate`` can find the first node where two runtimes diverge)."""

from __future__ import annotations

from typing import Any

__all__ = ["expose_all"]


def expose_all(proto: Any) -> tuple[Any, list[Any]]:
    """A copy of the model with every node output also a graph output; nodes in graph order
    (ONNX requires graphs to be topologically sorted)."""
    import onnx
    from onnx import shape_inference

    model = onnx.ModelProto()
    model.CopyFrom(proto)
    try:
        model = shape_inference.infer_shapes(model)
    except Exception:  # noqa: BLE001 - shapes are a nicety here, types come from value_info when known
        pass
    known = {vi.name: vi for vi in list(model.graph.value_info) + list(model.graph.output)}
    have = {o.name for o in model.graph.output}
    for node in model.graph.node:
        for t in node.output:
            if t and t not in have:
                vi = known.get(t)
                if vi is None:
                    vi = onnx.ValueInfoProto(name=t)
                model.graph.output.append(vi)
                have.add(t)
    return model, list(model.graph.node)
