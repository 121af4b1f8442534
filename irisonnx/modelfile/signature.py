"""A model's tensor signature: every input and output with its name, element type and shape.

The one place that reads it (from an ONNX graph or from an onnxruntime session) and the one
place that checks arrays against it. Needs numpy only (onnx is never imported here: the
callers hand over ValueInfoProtos or onnxruntime's NodeArgs).

Shapes hold ints (fixed), strings (symbolic, ``"batch"``) or None (unknown). Element types use
numpy-style names: float32, float16, float64, bfloat16, int8..int64, uint8..uint64, bool,
string; a non-tensor value (a sequence, a map, an optional) gets a ``seq(...)``/``map(...)``
type and ``is_tensor`` False.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import numpy as np

from irisonnx.errors import DataError

__all__ = ["TensorSpec", "Signature", "ONNX_DTYPES", "spec_from_value_info", "spec_from_ort", "numpy_dtype", "check_feeds", "shorten"]

# TensorProto.DataType -> name
ONNX_DTYPES = {
    1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64", 8: "string",
    9: "bool", 10: "float16", 11: "float64", 12: "uint32", 13: "uint64", 16: "bfloat16",
}  # fmt: skip
# onnxruntime's type strings -> name
_ORT_TYPES = {
    "float": "float32", "uint8": "uint8", "int8": "int8", "uint16": "uint16", "int16": "int16", "int32": "int32",
    "int64": "int64", "string": "string", "bool": "bool", "float16": "float16", "double": "float64",
    "uint32": "uint32", "uint64": "uint64", "bfloat16": "bfloat16",
}  # fmt: skip
FLOAT_TYPES = ("float16", "bfloat16", "float32", "float64")
INT_TYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")


@dataclass(frozen=True)
class TensorSpec:
    """One graph input or output. ``shape`` holds ints, dim names (``"batch"``) or None."""

    name: str
    dtype: str
    shape: tuple[int | str | None, ...]

    @property
    def is_tensor(self) -> bool:
        return not self.dtype.startswith(("seq(", "map(", "optional(", "non-tensor", "type"))

    @property
    def is_float(self) -> bool:
        return self.dtype in FLOAT_TYPES

    @property
    def batch_dim(self) -> int | str | None:
        """The first dimension, or the string "scalar" for a rank-0 tensor."""
        return self.shape[0] if self.shape else "scalar"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}

    def shape_str(self) -> str:
        return "[" + ", ".join("?" if d is None else str(d) for d in self.shape) + "]"

    def describe(self) -> str:
        return f"{self.name} {self.dtype} {self.shape_str()}" if self.is_tensor else f"{self.name} {self.dtype}"


@dataclass(frozen=True)
class Signature:
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]

    @property
    def input_names(self) -> list[str]:
        return [i.name for i in self.inputs]

    @property
    def output_names(self) -> list[str]:
        return [o.name for o in self.outputs]

    def input(self, name: str) -> TensorSpec:
        for i in self.inputs:
            if i.name == name:
                return i
        raise KeyError(name)

    def output(self, name: str) -> TensorSpec | None:
        return next((o for o in self.outputs if o.name == name), None)

    def batched(self) -> bool:
        """True when every input's first dimension is symbolic or unknown (rows can be cut into
        chunks) and no output has a fixed first dimension (each chunk's outputs are its rows).
        Whether outputs really follow the input rows is also checked on the first chunk run."""
        if not self.inputs or any(not i.is_tensor or not i.shape or isinstance(i.shape[0], int) for i in self.inputs):
            return False
        in_dims = {i.shape[0] for i in self.inputs if isinstance(i.shape[0], str)}
        for o in self.outputs:
            if not o.is_tensor:
                continue  # sequences of maps (skl2onnx ZipMap): one item per row
            if not o.shape or isinstance(o.shape[0], int):
                return False
            if isinstance(o.shape[0], str) and in_dims and o.shape[0] not in in_dims:
                return False  # another symbol: not the rows (a Transpose's [4, N] would be fixed)
        return True

    def fixed_batch(self) -> int | None:
        """The fixed first dimension shared by every input (a model exported for batch 1), else None."""
        dims = {i.shape[0] if i.is_tensor and i.shape else None for i in self.inputs}
        if len(dims) == 1:
            (d,) = dims
            return d if isinstance(d, int) and d > 0 else None
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"inputs": [i.to_dict() for i in self.inputs], "outputs": [o.to_dict() for o in self.outputs]}


def _type_name(tp: Any) -> str:
    """Name of an ONNX TypeProto (tensor element types, and the nesting of non-tensors)."""
    which = tp.WhichOneof("value")
    if which == "tensor_type":
        return ONNX_DTYPES.get(tp.tensor_type.elem_type, f"type{tp.tensor_type.elem_type}")
    if which == "sequence_type":
        return f"seq({_type_name(tp.sequence_type.elem_type)})"
    if which == "map_type":
        return f"map({ONNX_DTYPES.get(tp.map_type.key_type, '?')},{_type_name(tp.map_type.value_type)})"
    if which == "optional_type":
        return f"optional({_type_name(tp.optional_type.elem_type)})"
    if which == "sparse_tensor_type":
        return f"sparse({ONNX_DTYPES.get(tp.sparse_tensor_type.elem_type, '?')})"
    return "non-tensor"


def spec_from_value_info(vi: Any) -> TensorSpec:
    tp = vi.type
    dims: list[int | str | None] = []
    if tp.WhichOneof("value") == "tensor_type" and tp.tensor_type.HasField("shape"):
        for d in tp.tensor_type.shape.dim:
            if d.HasField("dim_value"):
                dims.append(int(d.dim_value))
            elif d.HasField("dim_param") and d.dim_param:
                dims.append(d.dim_param)
            else:
                dims.append(None)
    return TensorSpec(vi.name, _type_name(tp), tuple(dims))


def spec_from_ort(arg: Any) -> TensorSpec:
    """From an onnxruntime NodeArg (``type`` like ``tensor(float)``, ``seq(map(int64,tensor(float)))``)."""
    t = str(arg.type)

    def conv(s: str) -> str:
        if s.startswith("tensor(") and s.endswith(")"):
            return _ORT_TYPES.get(s[7:-1], s[7:-1])
        if s.startswith("seq(") and s.endswith(")"):
            return f"seq({conv(s[4:-1])})"
        if s.startswith("map(") and s.endswith(")"):
            k, _, v = s[4:-1].partition(",")
            return f"map({_ORT_TYPES.get(k, k)},{conv(v)})"
        if s.startswith("optional(") and s.endswith(")"):
            return f"optional({conv(s[9:-1])})"
        return s

    name = conv(t)
    shape = tuple(d if isinstance(d, (int, str)) or d is None else None for d in (arg.shape or [])) if t.startswith("tensor(") else ()
    return TensorSpec(arg.name, name, shape)


def numpy_dtype(spec: TensorSpec) -> np.dtype:
    """The numpy dtype runtimes take for ``spec``; DataError for types numpy has no dtype for."""
    if spec.dtype == "string":
        return np.dtype(object)
    if spec.dtype == "bfloat16":
        raise DataError(f"input {spec.name!r} is bfloat16", "numpy has no bfloat16 type that every runtime accepts", "irisonnx cannot feed it; cast the input to float32 in the model")
    try:
        return np.dtype(spec.dtype)
    except TypeError:
        raise DataError(f"input {spec.name!r} has type {spec.dtype}", "irisonnx can feed tensors of numbers, bool and strings only") from None


def shorten(names: Iterable[str], limit: int = 8) -> str:
    """``a, b, c, … (40 more)``: long name lists in one line."""
    names = list(names)
    head = ", ".join(names[:limit])
    return head + (f", … ({len(names) - limit} more)" if len(names) > limit else "")


def _castable(src: np.dtype, dst: np.dtype, arr: np.ndarray) -> bool:
    if src == dst:
        return True
    if dst == np.dtype(object):
        return src.kind in "US"
    if dst.kind == "b" or src.kind == "b":
        return False  # 0/1 numbers are not booleans: say which array is wrong instead
    if dst.kind == "f":
        return src.kind in "fiu"
    if dst.kind in "iu" and src.kind in "iu":
        if arr.size == 0:
            return True
        info = np.iinfo(dst)
        return bool(arr.min() >= info.min and arr.max() <= info.max)
    return False


def check_feeds(sig: Signature, feeds: Mapping[str, Any], where: str) -> dict[str, np.ndarray]:
    """Arrays by input name, checked against ``sig``: every input present, none extra, types
    that convert without loss of kind (float64 -> float32 is fine, float -> int is not), the
    right rank, fixed dimensions equal, a symbolic dimension one size across inputs. Returns
    C-contiguous arrays of the inputs' own types. DataError (exit 2) naming the array."""
    missing = [i.name for i in sig.inputs if i.name not in feeds]
    extra = [k for k in feeds if k not in set(sig.input_names)]
    if missing:
        raise DataError(f"{where}: no array for input(s) {shorten(map(repr, missing))}", f"the model takes {shorten(i.describe() for i in sig.inputs)}")
    if extra:
        raise DataError(f"{where}: array(s) {shorten(map(repr, extra))} match no model input", f"the model takes {shorten(i.name for i in sig.inputs)}")
    out: dict[str, np.ndarray] = {}
    bound: dict[str, tuple[int, str]] = {}
    for spec in sig.inputs:
        arr = feeds[spec.name]
        if not isinstance(arr, np.ndarray):
            arr = np.asarray(arr)
        if not spec.is_tensor:
            raise DataError(f"{where}: input {spec.name!r} is a {spec.dtype}", "irisonnx feeds tensors only")
        want = numpy_dtype(spec)
        if not _castable(arr.dtype, want, arr):
            raise DataError(f"{where}: array {spec.name!r} is {arr.dtype}", f"input {spec.name!r} takes {spec.dtype}")
        if len(spec.shape) and arr.ndim != len(spec.shape):
            raise DataError(f"{where}: array {spec.name!r} has shape {list(arr.shape)}", f"input {spec.describe()} has rank {len(spec.shape)}")
        for axis, (d, n) in enumerate(zip(spec.shape, arr.shape)):
            if isinstance(d, int) and d != n:
                raise DataError(f"{where}: array {spec.name!r} has shape {list(arr.shape)}", f"input {spec.describe()} needs {d} along axis {axis}")
            if isinstance(d, str):
                seen = bound.setdefault(d, (n, spec.name))
                if seen[0] != n:
                    raise DataError(f"{where}: dimension {d!r} is {n} in {spec.name!r} but {seen[0]} in {seen[1]!r}", "arrays that share a symbolic dimension must agree on it")
        if want != np.dtype(object) and arr.dtype.kind == "f" and want.kind == "f" and arr.dtype != want and arr.size:
            with np.errstate(over="ignore"):
                cast = arr.astype(want)
            if np.isfinite(arr).all() and not np.isfinite(cast).all():
                raise DataError(f"{where}: array {spec.name!r} has values too large for {spec.dtype}", "they would become infinite")
            arr = cast
        if want == np.dtype(object):
            arr = arr.astype(object) if arr.dtype != object else arr
        elif arr.dtype != want:
            arr = arr.astype(want)
        # np.ascontiguousarray would turn a rank-0 array (an axis, a depth) into rank 1
        out[spec.name] = arr if arr.flags.c_contiguous else arr.copy(order="C")
    return out
