"""The REST front end (Open Inference Protocol v2 over HTTP), a Starlette app.

Endpoints: ``GET /v2``, ``/v2/health/live``, ``/v2/health/ready``, ``/v2/models/NAME[/versions/V]``,
``.../ready``, and ``POST .../infer`` with JSON or the binary tensor extension (a JSON header of
``Inference-Header-Content-Length`` bytes, then the tensors). The body is read as JSON whatever
its Content-Type says (tritonclient.http sends none). Model-repository endpoints (load,
unload, index) do not exist: 404. Every error is one JSON line ``{"error": "..."}`` with a 4xx
status; the access log is one line per request.
"""

from __future__ import annotations

import hmac
import json
import time
from typing import Any, Callable

from irisonnx.serve.protocol import BadRequest, decode_json_tensor, decode_raw_tensor, encode_raw, json_data, out_datatype, split_binary_body

__all__ = ["make_app", "handle_infer"]

HEALTH_PATHS = ("/v2/health/live", "/v2/health/ready")


def _error(message: str, status: int) -> Any:
    from starlette.responses import Response

    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return Response(json.dumps({"error": message}) + "\n", status_code=status, media_type="application/json", headers=headers)


def _json(obj: Any) -> Any:
    from starlette.responses import Response

    return Response(json.dumps(obj, separators=(",", ":")), media_type="application/json")


def _param(d: Any, key: str) -> Any:
    p = d.get("parameters") if isinstance(d, dict) else None
    return p.get(key) if isinstance(p, dict) else None


def handle_infer(model: Any, body: bytes, header_length: str | None, max_bytes: int) -> tuple[bytes, dict[str, str]]:
    """One infer request's body -> (response body, headers). BadRequest for anything wrong."""
    if header_length is not None:
        head, rest = split_binary_body(body, header_length, max_bytes)
    else:
        head, rest = body, memoryview(b"")
    try:
        req = json.loads(head)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"request body is not valid JSON: {str(exc).splitlines()[0][:120]}") from None
    if not isinstance(req, dict) or not isinstance(req.get("inputs"), list):
        raise BadRequest(f"request has no 'inputs' list; the model takes {model.takes()}")
    feeds = {}
    offset = 0
    for t in req["inputs"]:
        if not isinstance(t, dict):
            raise BadRequest(f"an entry of 'inputs' is not an object; the model takes {model.takes()}")
        spec = model.input_spec(t.get("name"))
        if spec.name in feeds:
            raise BadRequest(f"input {spec.name!r} is given twice")
        size = _param(t, "binary_data_size")
        if size is not None:
            if isinstance(size, bool) or not isinstance(size, int) or size < 0:
                raise BadRequest(f"input {spec.name!r}: binary_data_size {size!r} is not a non-negative integer")
            if header_length is None:
                raise BadRequest(f"input {spec.name!r} has binary_data_size but the request has no Inference-Header-Content-Length header")
            if offset + size > len(rest):
                raise BadRequest(f"input {spec.name!r}: binary_data_size {size} runs past the body ({len(rest) - offset} bytes left)")
            feeds[spec.name] = decode_raw_tensor(spec, t.get("datatype"), t.get("shape"), rest[offset : offset + size], max_bytes)
            offset += size
        else:
            if "data" not in t:
                raise BadRequest(f"input {spec.name!r} has neither 'data' nor a binary_data_size parameter")
            feeds[spec.name] = decode_json_tensor(spec, t.get("datatype"), t.get("shape"), t["data"], max_bytes)
    if offset != len(rest):
        raise BadRequest(f"the binary part has {len(rest)} bytes but the inputs' binary_data_size add up to {offset}")
    binary_default = bool(_param(req, "binary_data_output"))
    wanted: list[tuple[str, bool]] = []
    outs = req.get("outputs")
    if outs is not None:
        if not isinstance(outs, list) or not all(isinstance(o, dict) and isinstance(o.get("name"), str) for o in outs):
            raise BadRequest("'outputs' must be a list of objects with a 'name'")
        wanted = [(o["name"], bool(_param(o, "binary_data")) if _param(o, "binary_data") is not None else binary_default) for o in outs]
    results = model.infer(feeds, [n for n, _ in wanted] or None)
    if not wanted:
        wanted = [(n, binary_default) for n in results]
    out_list = []
    blobs = []
    for name, binary in wanted:
        arr = results[name]
        import numpy as np

        arr = np.asarray(arr)
        entry: dict[str, Any] = {"name": name, "datatype": out_datatype(arr), "shape": list(arr.shape)}
        if binary:
            raw = encode_raw(arr)
            entry["parameters"] = {"binary_data_size": len(raw)}
            blobs.append(raw)
        else:
            entry["data"] = json_data(arr)
        out_list.append(entry)
    resp: dict[str, Any] = {"model_name": model.name, "model_version": model.version, "outputs": out_list}
    if isinstance(req.get("id"), str):
        resp["id"] = req["id"]
    text = json.dumps(resp, separators=(",", ":")).encode()
    if not blobs:
        return text, {"content-type": "application/json"}
    return text + b"".join(blobs), {"content-type": "application/octet-stream", "inference-header-content-length": str(len(text))}


class _AccessLog:
    """Pure ASGI middleware: one line per HTTP request (client, method, path, status, time)."""

    def __init__(self, app: Any, log: Callable[[str], None]) -> None:
        self.app, self.log = app, log

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = [0]

        async def send_logged(message: Any) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_logged)
        finally:
            client = scope.get("client") or ("-", 0)
            self.log(f"{client[0]} {scope['method']} {scope['path']} {status[0]} {1000 * (time.perf_counter() - t0):.1f}ms")


def make_app(repo: Any, *, token: str | None, max_request_bytes: int, threads: int, log: Callable[[str], None] | None, ready: Callable[[], bool]) -> Any:
    import anyio
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from irisonnx import __version__

    limiter = anyio.CapacityLimiter(threads)
    want_auth = ("Bearer " + token).encode() if token else None

    def authorized(request: Request) -> bool:
        if want_auth is None or request.url.path in HEALTH_PATHS:
            return True
        got = request.headers.get("authorization", "").encode()
        return hmac.compare_digest(got, want_auth)

    async def live(request: Request) -> Response:
        return _json({"live": True})

    async def health_ready(request: Request) -> Response:
        ok = ready()
        return _json({"ready": ok}) if ok else _error("not ready", 503)

    async def server_meta(request: Request) -> Response:
        return _json({"name": "irisonnx", "version": __version__, "extensions": ["binary_tensor_data"]})

    async def model_meta(request: Request) -> Response:
        p = request.path_params
        m = repo.get(p["name"], p.get("version"))
        return _json(m.metadata(repo.versions(m.name)))

    async def model_ready(request: Request) -> Response:
        p = request.path_params
        m = repo.get(p["name"], p.get("version"))
        return _json({"name": m.name, "version": m.version, "ready": True})

    async def infer(request: Request) -> Response:
        p = request.path_params
        m = repo.get(p["name"], p.get("version"))
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_request_bytes:
            raise BadRequest(f"request body of {declared} bytes is over the server's limit of {max_request_bytes} bytes (--max-request-bytes)", 413)
        chunks = []
        n = 0
        async for chunk in request.stream():
            n += len(chunk)
            if n > max_request_bytes:
                raise BadRequest(f"request body is over the server's limit of {max_request_bytes} bytes (--max-request-bytes)", 413)
            chunks.append(chunk)
        body = b"".join(chunks)
        hl = request.headers.get("inference-header-content-length")
        data, headers = await anyio.to_thread.run_sync(handle_infer, m, body, hl, max_request_bytes, limiter=limiter)
        return Response(data, headers=headers)

    routes = [
        Route("/v2", server_meta),
        Route("/v2/health/live", live),
        Route("/v2/health/ready", health_ready),
        Route("/v2/models/{name}", model_meta),
        Route("/v2/models/{name}/versions/{version}", model_meta),
        Route("/v2/models/{name}/ready", model_ready),
        Route("/v2/models/{name}/versions/{version}/ready", model_ready),
        Route("/v2/models/{name}/infer", infer, methods=["POST"]),
        Route("/v2/models/{name}/versions/{version}/infer", infer, methods=["POST"]),
    ]

    async def bad_request(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, BadRequest)
        return _error(exc.message, exc.status)

    async def http_error(request: Request, exc: Exception) -> Response:
        code = getattr(exc, "status_code", 500)
        if code == 404:
            what = "model repository endpoints are off in irisonnx serve" if request.url.path.startswith("/v2/repository") else "no such endpoint"
            return _error(f"{what}: {request.method} {request.url.path}", 404)
        if code == 405:
            return _error(f"{request.method} is not allowed on {request.url.path}", 405)
        return _error(str(getattr(exc, "detail", "")) or "bad request", code)

    async def internal(request: Request, exc: Exception) -> Response:
        if log:
            log(f"internal error on {request.method} {request.url.path}: {type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}")
        return _error(f"internal error: {type(exc).__name__}", 500)

    from starlette.exceptions import HTTPException

    app = Starlette(routes=routes, exception_handlers={BadRequest: bad_request, HTTPException: http_error, Exception: internal})

    async def guarded(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            request = Request(scope)
            if not authorized(request):
                await _error("missing or wrong bearer token (send 'Authorization: Bearer TOKEN')", 401)(scope, receive, send)
                return
        try:
            await app(scope, receive, send)
        except Exception:  # noqa: BLE001 - Starlette re-raises after the 500 went out: logged above, in one line
            pass

    return _AccessLog(guarded, log) if log else guarded
