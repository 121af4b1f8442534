"""The Open Inference Protocol's data model, shared by the REST and gRPC front ends.

Datatypes (irisonnx.signature dtypes <-> OIP names), metadata from a model's signature, and
the strict decoding of request tensors: a tensor is accepted only when its datatype is the
input's own, its shape has the input's rank and fixed dimensions, and the data holds exactly
the elements the shape declares. Everything else is a :class:`BadRequest` (4xx) whose message
names the input, its expected datatype and shape; nothing here raises anything else for a
client's bytes. Needs numpy only.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

from irisonnx.modelfile.signature import TensorSpec

__all__ = ["BadRequest", "DATATYPES", "oip_datatype", "tensor_metadata", "expected", "decode_json_tensor", "decode_raw_tensor", "check_shape", "encode_raw", "json_data", "split_binary_body"]

# irisonnx.signature dtype -> OIP datatype
DATATYPES = {
    "bool": "BOOL", "uint8": "UINT8", "uint16": "UINT16", "uint32": "UINT32", "uint64": "UINT64",
    "int8": "INT8", "int16": "INT16", "int32": "INT32", "int64": "INT64",
    "float16": "FP16", "float32": "FP32", "float64": "FP64", "bfloat16": "BF16", "string": "BYTES",
}  # fmt: skip
_NUMPY = {v: (np.dtype(object) if k == "string" else np.dtype(k)) for k, v in DATATYPES.items() if k != "bfloat16"}


class BadRequest(Exception):
    """A client error: ``status`` is the HTTP code (the gRPC front end maps it)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def oip_datatype(spec: TensorSpec) -> str:
    return DATATYPES.get(spec.dtype, spec.dtype.upper())


def oip_shape(spec: TensorSpec) -> list[int]:
    """The signature's shape with -1 for a symbolic or unknown dimension (the protocol's way)."""
    return [d if isinstance(d, int) else -1 for d in spec.shape]


def tensor_metadata(spec: TensorSpec) -> dict[str, Any]:
    return {"name": spec.name, "datatype": oip_datatype(spec), "shape": oip_shape(spec)}


def expected(spec: TensorSpec) -> str:
    """``FP32 [-1, 4]``: what an input takes, for error messages."""
    return f"{oip_datatype(spec)} {oip_shape(spec)}"


def check_shape(spec: TensorSpec, shape: Any, max_bytes: int) -> tuple[int, ...]:
    """The request's shape for ``spec`` as a tuple, or BadRequest: a list of non-negative
    integers of the input's rank, equal to its fixed dimensions, whose element count fits in
    ``max_bytes`` (checked before anything is allocated)."""
    want = expected(spec)
    if not isinstance(shape, (list, tuple)) or any(isinstance(d, bool) or not isinstance(d, int) for d in shape):
        raise BadRequest(f"input {spec.name!r}: shape {_short(shape)} is not a list of integers; expected {want}")
    if any(d < 0 for d in shape):
        raise BadRequest(f"input {spec.name!r}: shape {list(shape)} has a negative dimension; expected {want}")
    if len(shape) != len(spec.shape):
        raise BadRequest(f"input {spec.name!r}: shape {list(shape)} has rank {len(shape)}; expected {want}")
    for axis, (d, n) in enumerate(zip(spec.shape, shape)):
        if isinstance(d, int) and d != n:
            raise BadRequest(f"input {spec.name!r}: shape {list(shape)} has {n} along axis {axis}; expected {want}")
    count = math.prod(shape)
    item = 1 if spec.dtype == "string" else _NUMPY[oip_datatype(spec)].itemsize
    if count * item > max_bytes:
        raise BadRequest(f"input {spec.name!r}: shape {list(shape)} declares {count} elements ({count * item} bytes), over the server's limit of {max_bytes} bytes; expected {want}", 413)
    return tuple(shape)


def _short(v: Any, limit: int = 60) -> str:
    s = repr(v)
    return s if len(s) <= limit else s[: limit - 1] + "…"


def _check_datatype(spec: TensorSpec, datatype: Any) -> np.dtype:
    want = oip_datatype(spec)
    if datatype != want:
        raise BadRequest(f"input {spec.name!r}: datatype {_short(datatype)} does not match; expected {expected(spec)}")
    if want not in _NUMPY:
        raise BadRequest(f"input {spec.name!r}: datatype {want} cannot be sent to this server (numpy has no such type)")
    return _NUMPY[want]


def decode_json_tensor(spec: TensorSpec, datatype: Any, shape: Any, data: Any, max_bytes: int) -> np.ndarray:
    """A JSON tensor (``data`` flat or nested, row-major) as an array of the input's own type."""
    dt = _check_datatype(spec, datatype)
    dims = check_shape(spec, shape, max_bytes)
    want = expected(spec)
    if not isinstance(data, list):
        data = [data]  # a scalar tensor may be sent bare
    try:
        arr = np.array(data, dtype=object if dt == object else None)
    except (ValueError, TypeError, OverflowError):
        raise BadRequest(f"input {spec.name!r}: data is not a regular array of values; expected {want}") from None
    n = math.prod(dims)
    if arr.size != n:
        raise BadRequest(f"input {spec.name!r}: shape {list(dims)} declares {n} elements but data holds {arr.size}; expected {want}")
    kind = arr.dtype.kind if arr.size else None
    ok = {
        "b": kind == "b",
        "i": kind in ("i", "u"),
        "u": kind in ("i", "u"),
        "f": kind in ("i", "u", "f"),
        "O": kind is None or all(isinstance(v, str) for v in arr.flat),
    }[dt.kind]
    if kind is not None and not ok:
        shown = {"b": "booleans", "i": "integers", "u": "integers", "f": "numbers", "U": "strings", "O": "mixed values"}.get(kind, "values")
        raise BadRequest(f"input {spec.name!r}: data holds {shown}; expected {want}")
    if dt.kind in "iu" and arr.size:
        info = np.iinfo(dt)
        lo, hi = arr.min(), arr.max()
        if lo < info.min or hi > info.max:
            raise BadRequest(f"input {spec.name!r}: values out of range for {oip_datatype(spec)}; expected {want}")
    if dt == object:
        return arr.reshape(dims)
    with np.errstate(over="ignore"):
        out = arr.astype(dt).reshape(dims)
    if dt.kind == "f" and arr.dtype.kind == "f" and np.isfinite(arr).all() and not np.isfinite(out).all():
        raise BadRequest(f"input {spec.name!r}: values too large for {oip_datatype(spec)}; expected {want}")
    return out


def decode_raw_tensor(spec: TensorSpec, datatype: Any, shape: Any, raw: bytes | memoryview, max_bytes: int) -> np.ndarray:
    """A binary tensor (the binary extension's bytes, or gRPC raw_input_contents): little-endian,
    row-major; BYTES as 4-byte little-endian length + bytes per element."""
    dt = _check_datatype(spec, datatype)
    dims = check_shape(spec, shape, max_bytes)
    n = math.prod(dims)
    want = expected(spec)
    if dt == object:
        items: list[str] = []
        buf = memoryview(raw)
        pos = 0
        while pos < len(buf):
            if pos + 4 > len(buf):
                raise BadRequest(f"input {spec.name!r}: BYTES data ends inside a length prefix; expected {want}")
            (k,) = struct.unpack_from("<I", buf, pos)
            pos += 4
            if pos + k > len(buf):
                raise BadRequest(f"input {spec.name!r}: a BYTES element of {k} bytes runs past the data; expected {want}")
            try:
                items.append(bytes(buf[pos : pos + k]).decode("utf-8"))
            except UnicodeDecodeError:
                raise BadRequest(f"input {spec.name!r}: a BYTES element is not UTF-8 text; expected {want}") from None
            pos += k
        if len(items) != n:
            raise BadRequest(f"input {spec.name!r}: shape {list(dims)} declares {n} elements but data holds {len(items)}; expected {want}")
        return np.array(items, dtype=object).reshape(dims)
    size = n * dt.itemsize
    if len(raw) != size:
        raise BadRequest(f"input {spec.name!r}: shape {list(dims)} of {oip_datatype(spec)} needs {size} bytes but {len(raw)} were sent; expected {want}")
    arr = np.frombuffer(raw, dtype=dt.newbyteorder("<")).reshape(dims)
    if dt.kind == "b" and arr.size and (np.frombuffer(raw, np.uint8) > 1).any():
        raise BadRequest(f"input {spec.name!r}: BOOL bytes must be 0 or 1; expected {want}")
    return arr.astype(dt, copy=False)  # native order (a copy only on a big-endian host)


def out_datatype(arr: np.ndarray) -> str:
    if arr.dtype == object or arr.dtype.kind in "US":
        return "BYTES"
    return DATATYPES.get(arr.dtype.name, arr.dtype.name.upper())


def encode_raw(arr: np.ndarray) -> bytes:
    """An output array as the protocol's raw bytes."""
    if arr.dtype == object or arr.dtype.kind in "US":
        parts = []
        for v in arr.flat:
            b = v if isinstance(v, bytes) else str(v).encode("utf-8")
            parts.append(struct.pack("<I", len(b)) + b)
        return b"".join(parts)
    return np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<")).tobytes()


def json_data(arr: np.ndarray) -> list[Any]:
    """An output array as the flat JSON list of its values (row-major)."""
    if arr.dtype == object or arr.dtype.kind in "US":
        return [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in arr.flat]
    if arr.dtype.kind == "f":
        flat = arr.ravel()
        if not np.isfinite(flat).all():  # JSON has no NaN/Infinity: the protocol's JSON cannot carry them
            return [None if not math.isfinite(v) else v for v in flat.tolist()]
        return flat.tolist()
    return arr.ravel().tolist()


def split_binary_body(body: bytes, header_length: str, max_bytes: int) -> tuple[bytes, memoryview]:
    """(JSON header, binary rest) of a binary-extension request body."""
    try:
        n = int(header_length)
    except ValueError:
        raise BadRequest(f"Inference-Header-Content-Length {_short(header_length)} is not an integer") from None
    if n < 0 or n > len(body):
        raise BadRequest(f"Inference-Header-Content-Length is {n} but the body has {len(body)} bytes")
    return body[:n], memoryview(body)[n:]


@dataclass
class RequestedOutput:
    name: str
    binary: bool
