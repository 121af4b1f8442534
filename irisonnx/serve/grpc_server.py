"""The gRPC front end: the Open Inference Protocol's ``inference.GRPCInferenceService``.

The messages come from irisonnx's own copy of the protocol's schema (grpc_predict_v2.proto,
package ``irisonnx.oip`` so that it coexists with tritonclient.grpc and kserve in one process);
the six handlers are registered here under the protocol's service name. Inputs are accepted
as typed contents or as ``raw_input_contents``; outputs always go back as
``raw_output_contents`` (the form every client reads, and the one that carries any shape).
The bearer token travels as the ``authorization`` metadata; ServerLive and ServerReady need
none, like the REST health endpoints.
"""

from __future__ import annotations

import hmac
import math
import time
from concurrent import futures
from typing import Any, Callable

import numpy as np

from irisonnx.serve import grpc_predict_v2_pb2 as pb
from irisonnx.serve.protocol import BadRequest, check_shape, decode_raw_tensor, encode_raw, expected, oip_datatype, out_datatype

__all__ = ["SERVICE", "make_server"]

SERVICE = "inference.GRPCInferenceService"

# OIP datatype -> the InferTensorContents field that carries it
_CONTENTS = {
    "BOOL": "bool_contents", "INT8": "int_contents", "INT16": "int_contents", "INT32": "int_contents", "INT64": "int64_contents",
    "UINT8": "uint_contents", "UINT16": "uint_contents", "UINT32": "uint_contents", "UINT64": "uint64_contents",
    "FP32": "fp32_contents", "FP64": "fp64_contents", "BYTES": "bytes_contents",
}  # fmt: skip


def _typed(spec: Any, t: Any, max_bytes: int) -> np.ndarray:
    from irisonnx.serve.protocol import _check_datatype

    dt = _check_datatype(spec, t.datatype)
    dims = check_shape(spec, list(t.shape), max_bytes)
    field = _CONTENTS.get(t.datatype)
    if field is None:
        raise BadRequest(f"input {spec.name!r}: {t.datatype} has no typed contents field; send it in raw_input_contents; expected {expected(spec)}")
    values = getattr(t.contents, field)
    n = math.prod(dims)
    if len(values) != n:
        raise BadRequest(f"input {spec.name!r}: shape {list(dims)} declares {n} elements but {field} holds {len(values)}; expected {expected(spec)}")
    if t.datatype == "BYTES":
        try:
            return np.array([v.decode("utf-8") for v in values], dtype=object).reshape(dims)
        except UnicodeDecodeError:
            raise BadRequest(f"input {spec.name!r}: a BYTES element is not UTF-8 text; expected {expected(spec)}") from None
    arr = np.array(values, dtype=np.int64 if dt.kind in "iu" and dt.itemsize < 8 else dt)
    if dt.kind in "iu" and arr.size and dt.itemsize < 8:
        info = np.iinfo(dt)
        if arr.min() < info.min or arr.max() > info.max:
            raise BadRequest(f"input {spec.name!r}: values out of range for {t.datatype}; expected {expected(spec)}")
    return arr.astype(dt, copy=False).reshape(dims)


def decode_request(model: Any, req: Any, max_bytes: int) -> dict[str, np.ndarray]:
    raw = req.raw_input_contents
    if raw and len(raw) != len(req.inputs):
        raise BadRequest(f"raw_input_contents has {len(raw)} entries for {len(req.inputs)} inputs; give one per input, in order")
    feeds: dict[str, np.ndarray] = {}
    for i, t in enumerate(req.inputs):
        spec = model.input_spec(t.name)
        if spec.name in feeds:
            raise BadRequest(f"input {spec.name!r} is given twice")
        if raw:
            if t.HasField("contents"):
                raise BadRequest(f"input {spec.name!r} has both typed contents and raw_input_contents")
            feeds[spec.name] = decode_raw_tensor(spec, t.datatype, list(t.shape), raw[i], max_bytes)
        else:
            feeds[spec.name] = _typed(spec, t, max_bytes)
    return feeds


def _peer(context: Any) -> str:
    p = context.peer() or "-"
    kind, _, rest = p.partition(":")
    if kind in ("ipv4", "ipv6"):
        return rest.rsplit(":", 1)[0].strip("[]")
    return p


def make_server(repo: Any, *, host: str, port: int, token: str | None, max_request_bytes: int, threads: int, log: Callable[[str], None] | None, ready: Callable[[], bool]) -> tuple[Any, int]:
    """A (not yet started) grpc.Server bound to host:port, and the bound port."""
    import grpc

    from irisonnx import __version__

    want = ("Bearer " + token).encode() if token else None
    codes = {400: grpc.StatusCode.INVALID_ARGUMENT, 401: grpc.StatusCode.UNAUTHENTICATED, 404: grpc.StatusCode.NOT_FOUND, 413: grpc.StatusCode.RESOURCE_EXHAUSTED, 422: grpc.StatusCode.INVALID_ARGUMENT}

    def rpc(name: str, fn: Callable[[Any, Any], Any], open_: bool = False) -> Callable[[Any, Any], Any]:
        def handler(request: Any, context: Any) -> Any:
            t0 = time.perf_counter()
            status = "OK"
            try:
                if want is not None and not open_:
                    got = dict(context.invocation_metadata()).get("authorization", "")
                    if not hmac.compare_digest(got.encode() if isinstance(got, str) else got, want):
                        raise BadRequest("missing or wrong bearer token (send metadata 'authorization: Bearer TOKEN')", 401)
                return fn(request, context)
            except BadRequest as exc:
                code = codes.get(exc.status, grpc.StatusCode.INVALID_ARGUMENT)
                status = code.name
                context.abort(code, exc.message)
            except Exception as exc:  # noqa: BLE001 - one line, never a traceback
                status = "INTERNAL"
                if log:
                    log(f"internal error in gRPC {name}: {type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}")
                context.abort(grpc.StatusCode.INTERNAL, f"internal error: {type(exc).__name__}")
            finally:
                if log:
                    extra = f" {getattr(request, 'name', '') or getattr(request, 'model_name', '')}".rstrip()
                    log(f"{_peer(context)} gRPC {name}{extra} {status} {1000 * (time.perf_counter() - t0):.1f}ms")

        return handler

    def server_live(req: Any, ctx: Any) -> Any:
        return pb.ServerLiveResponse(live=True)

    def server_ready(req: Any, ctx: Any) -> Any:
        return pb.ServerReadyResponse(ready=ready())

    def model_ready(req: Any, ctx: Any) -> Any:
        repo.get(req.name, req.version)
        return pb.ModelReadyResponse(ready=True)

    def server_metadata(req: Any, ctx: Any) -> Any:
        return pb.ServerMetadataResponse(name="irisonnx", version=__version__, extensions=["binary_tensor_data"])

    def model_metadata(req: Any, ctx: Any) -> Any:
        m = repo.get(req.name, req.version)
        sig = m.signature
        meta = pb.ModelMetadataResponse(name=m.name, versions=repo.versions(m.name), platform="onnxruntime_onnx")
        for s in sig.inputs:
            meta.inputs.add(name=s.name, datatype=oip_datatype(s), shape=[d if isinstance(d, int) else -1 for d in s.shape])
        for s in sig.outputs:
            if s.is_tensor:
                meta.outputs.add(name=s.name, datatype=oip_datatype(s), shape=[d if isinstance(d, int) else -1 for d in s.shape])
        return meta

    def model_infer(req: Any, ctx: Any) -> Any:
        m = repo.get(req.model_name, req.model_version)
        feeds = decode_request(m, req, max_request_bytes)
        names = [o.name for o in req.outputs]
        results = m.infer(feeds, names or None)
        resp = pb.ModelInferResponse(model_name=m.name, model_version=m.version)
        if req.id:
            resp.id = req.id
        for name in names or list(results):
            arr = np.asarray(results[name])
            resp.outputs.add(name=name, datatype=out_datatype(arr), shape=list(arr.shape))
            resp.raw_output_contents.append(encode_raw(arr))
        return resp

    table = {
        "ServerLive": (server_live, pb.ServerLiveRequest, True),
        "ServerReady": (server_ready, pb.ServerReadyRequest, True),
        "ModelReady": (model_ready, pb.ModelReadyRequest, False),
        "ServerMetadata": (server_metadata, pb.ServerMetadataRequest, False),
        "ModelMetadata": (model_metadata, pb.ModelMetadataRequest, False),
        "ModelInfer": (model_infer, pb.ModelInferRequest, False),
    }
    handlers = {
        name: grpc.unary_unary_rpc_method_handler(rpc(name, fn, open_), request_deserializer=req_cls.FromString, response_serializer=lambda msg: msg.SerializeToString())
        for name, (fn, req_cls, open_) in table.items()
    }
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="irisonnx-grpc"),
        handlers=[grpc.method_handlers_generic_handler(SERVICE, handlers)],
        options=[
            ("grpc.max_receive_message_length", max_request_bytes),
            ("grpc.max_send_message_length", -1),
            ("grpc.so_reuseport", 0),  # never share the port with another process
        ],
    )
    addr = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    bound = server.add_insecure_port(addr)
    return server, bound
