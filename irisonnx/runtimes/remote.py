"""``remote:URL``: the model behind an inference server, over the Open Inference Protocol (KServe v2).

Any server that speaks the protocol (``irisonnx serve``, KServe, MLServer, Triton, OpenVINO
Model Server) becomes one more runtime in ``compare`` and ``bench``::

    remote:http://host:8000/v2/models/NAME[/versions/V]     (https:// too)
    remote:grpc://host:8001/NAME[/versions/V]               (grpcs:// for TLS)

HTTP needs nothing beyond the standard library (``http.client``): each request sends the inputs
as binary tensors (the protocol's binary tensor extension) and asks for binary outputs; a server
that refuses binary inputs is asked again in JSON, and that choice is kept. gRPC goes through
``tritonclient.grpc``, imported only when a ``grpc://`` URL is used (``pip install
'irisonnx[remote]'``).

Rows are split into several requests so that no request body is over
:data:`DEFAULT_MAX_REQUEST_BYTES` (4 MB: gRPC's default message limit, which servers keep;
``IRISONNX_REMOTE_MAX_REQUEST_BYTES`` changes it). A model whose inputs have no shared row
dimension is sent whole.

On activation the server's model metadata is read and checked against the local ONNX model's
signature: names, datatypes and shapes (-1 for a dynamic dimension; the server may call a
dimension dynamic that the file fixes, not the other way round). A difference is exit 2 naming it.

Headers (``--header 'Authorization: Bearer ...'``, repeatable) or a token in
``IRISONNX_REMOTE_TOKEN`` (sent as ``Authorization: Bearer TOKEN``) go with every request and
are never shown: not in info(), reports, JSON or error messages (a server's error text has them
replaced by ``***``). Errors: a server that cannot be reached (refused, timed out, reset) is
exit 4; a 4xx answer (a bad request, an unknown model, a refused token) is exit 2 with the
server's one-line error text; a 5xx answer is exit 4.
"""

from __future__ import annotations

import http.client
import json
import math
import os
import socket
import ssl
import threading
import urllib.parse
from typing import Any

import numpy as np

from irisonnx.errors import RuntimeUnavailable, UsageError
from irisonnx.runtimes.base import Runtime

__all__ = ["RemoteRuntime", "DEFAULT_MAX_REQUEST_BYTES", "TOKEN_ENV", "parse_headers", "OIP_DTYPES"]

DEFAULT_MAX_REQUEST_BYTES = 4_000_000  # under gRPC's default 4 MiB message limit, JSON header included
DEFAULT_TIMEOUT_S = 60.0
TOKEN_ENV = "IRISONNX_REMOTE_TOKEN"
_JSON_BYTES_PER_ELEMENT = 24  # what a float costs as JSON text, to size requests in JSON mode

# irisonnx's (numpy-style) element types <-> the protocol's datatypes
OIP_DTYPES = {
    "bool": "BOOL", "uint8": "UINT8", "uint16": "UINT16", "uint32": "UINT32", "uint64": "UINT64",
    "int8": "INT8", "int16": "INT16", "int32": "INT32", "int64": "INT64",
    "float16": "FP16", "float32": "FP32", "float64": "FP64", "string": "BYTES", "bfloat16": "BF16",
}  # fmt: skip
_NP_OF = {v: k for k, v in OIP_DTYPES.items()}


def parse_headers(values: Any) -> list[tuple[str, str]]:
    """``NAME: VALUE`` strings (``--header``) as (name, value) pairs. A malformed one is exit 2,
    and the message never repeats the value (it may be a token)."""
    out = []
    for i, v in enumerate(values or ()):
        name, sep, value = str(v).partition(":")
        name = name.strip()
        if not sep or not name or any(c in name for c in " \t\r\n") or any(c in value for c in "\r\n\0"):
            raise UsageError(f"bad --header (number {i + 1})", "expected 'NAME: VALUE' on one line (the value is not shown)", "e.g. --header 'Authorization: Bearer TOKEN'")
        out.append((name, value.strip()))
    return out


def _one_line(text: str, secrets: list[str], limit: int = 300) -> str:
    for s in secrets:
        if s:
            text = text.replace(s, "***")
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _Target:
    """A parsed ``remote:`` URL (no credentials in it: they go in headers)."""

    def __init__(self, url: str) -> None:
        u = urllib.parse.urlsplit(url)
        self.scheme = u.scheme.lower()
        if self.scheme not in ("http", "https", "grpc", "grpcs"):
            raise UsageError("bad remote runtime URL", f"scheme {u.scheme or '(none)'!r}", "use remote:http://HOST:PORT/v2/models/NAME or remote:grpc://HOST:PORT/NAME")
        if u.username or u.password:
            raise UsageError("bad remote runtime URL", "it carries credentials (user:password@)", f"pass them with --header or {TOKEN_ENV}, which are never shown")
        if u.query or u.fragment:
            raise UsageError("bad remote runtime URL", "it has a query or fragment", "give the model's path only")
        try:
            self.host, self.port = u.hostname, u.port
        except ValueError:
            raise UsageError("bad remote runtime URL", "the port is not a number in 1..65535", "e.g. remote:http://127.0.0.1:8000/v2/models/iris") from None
        if not self.host:
            raise UsageError("bad remote runtime URL", "no host", "e.g. remote:http://127.0.0.1:8000/v2/models/iris")
        self.grpc = self.scheme.startswith("grpc")
        self.tls = self.scheme in ("https", "grpcs")
        if self.port is None:
            self.port = 8001 if self.grpc else (443 if self.tls else 80)
        parts = [p for p in u.path.split("/") if p]
        prefix: list[str] = []
        if not self.grpc:
            # .../v2/models/NAME[/versions/V]: anything before v2 is a path prefix (a gateway's route)
            idx = next((i for i in range(len(parts) - 1) if parts[i] == "v2" and parts[i + 1] == "models"), None)
            if idx is None:
                raise UsageError("bad remote runtime URL", "the path must end in /v2/models/NAME or /v2/models/NAME/versions/V", "e.g. remote:http://127.0.0.1:8000/v2/models/iris")
            prefix, parts = parts[:idx], parts[idx + 2 :]
        if len(parts) == 1:
            self.model, self.version = urllib.parse.unquote(parts[0]), ""
        elif len(parts) == 3 and parts[1] == "versions":
            self.model, self.version = urllib.parse.unquote(parts[0]), urllib.parse.unquote(parts[2])
        else:
            raise UsageError("bad remote runtime URL", "expected one model name, optionally /versions/V, after " + ("the host" if self.grpc else "/v2/models/"), "e.g. remote:grpc://127.0.0.1:8001/iris")
        self.prefix = "/" + "/".join(prefix) if prefix else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.netloc = f"{host}:{self.port}"
        self.display = f"{self.scheme}://{self.netloc}/" + ("" if self.grpc else "v2/models/") + self.model + (f"/versions/{self.version}" if self.version else "")

    def path(self, tail: str = "") -> str:
        q = urllib.parse.quote
        p = f"{self.prefix}/v2/models/{q(self.model, safe='')}" + (f"/versions/{q(self.version, safe='')}" if self.version else "")
        return p + tail


class _ServerError(Exception):
    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status, self.text = status, text


class _Unreachable(Exception):
    pass


class _Http:
    """One keep-alive connection per thread (bench --clients runs several threads)."""

    def __init__(self, t: _Target, headers: list[tuple[str, str]], timeout: float) -> None:
        self.t, self.headers, self.timeout = t, headers, timeout
        self.local = threading.local()

    def _conn(self) -> http.client.HTTPConnection:
        c = getattr(self.local, "conn", None)
        if c is None:
            if self.t.tls:
                c = http.client.HTTPSConnection(self.t.host, self.t.port, timeout=self.timeout, context=ssl.create_default_context())
            else:
                c = http.client.HTTPConnection(self.t.host, self.t.port, timeout=self.timeout)
            self.local.conn = c
        return c

    def close(self) -> None:
        c = getattr(self.local, "conn", None)
        if c is not None:
            c.close()
            self.local.conn = None

    def request(self, method: str, path: str, body: bytes | None = None, extra: dict[str, str] | None = None) -> tuple[dict[str, str], bytes]:
        hdrs = dict(self.headers)
        hdrs.update(extra or {})
        for attempt in (0, 1):
            c = self._conn()
            try:
                c.request(method, path, body=body, headers=hdrs)
                r = c.getresponse()
                data = r.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                self.close()  # a keep-alive connection the server closed: one fresh try
                if attempt:
                    raise _Unreachable(f"the connection was closed ({type(exc).__name__})") from None
                continue
            except ConnectionRefusedError:
                self.close()
                raise _Unreachable(f"connection refused at {self.t.netloc}") from None
            except (socket.timeout, TimeoutError):
                self.close()
                raise _Unreachable(f"no answer from {self.t.netloc} within {self.timeout:g} s") from None
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                raise _Unreachable(f"{type(exc).__name__} talking to {self.t.netloc}: {exc}") from None
            h = {k.lower(): v for k, v in r.getheaders()}
            if r.status >= 400:
                raise _ServerError(r.status, _error_text(data))
            return h, data
        raise AssertionError("unreachable")


def _error_text(data: bytes) -> str:
    try:
        doc = json.loads(data)
        if isinstance(doc, dict) and doc.get("error") is not None:
            return str(doc["error"])
        if isinstance(doc, dict) and doc.get("detail") is not None:
            return str(doc["detail"])
    except ValueError:
        pass
    return data.decode("utf-8", "replace") or "(no text)"


def _to_bytes(arr: np.ndarray, dt: str) -> bytes:
    if dt == "BYTES":
        out = bytearray()
        for v in arr.reshape(-1):
            b = v if isinstance(v, bytes) else str(v).encode("utf-8")
            out += len(b).to_bytes(4, "little") + b
        return bytes(out)
    return np.ascontiguousarray(arr, dtype=np.dtype(_NP_OF[dt]).newbyteorder("<")).tobytes()


def _from_bytes(buf: bytes, dt: str, shape: list[int]) -> np.ndarray:
    if dt == "BYTES":
        vals, i = [], 0
        while i < len(buf):
            n = int.from_bytes(buf[i : i + 4], "little")
            vals.append(buf[i + 4 : i + 4 + n].decode("utf-8", "replace"))
            i += 4 + n
        return np.array(vals, dtype=object).reshape(shape)
    dtype = np.dtype(_NP_OF[dt]).newbyteorder("<")
    if len(buf) != dtype.itemsize * math.prod(shape):
        raise _ServerError(0, f"the server sent {len(buf)} bytes for a {dt} {shape} output")
    return np.frombuffer(buf, dtype=dtype).reshape(shape).astype(np.dtype(_NP_OF[dt]), copy=True)


class RemoteRuntime(Runtime):
    kind = "remote"

    def __init__(self, ctx: Any, option: str = "") -> None:
        super().__init__(ctx, option)
        self._target: _Target | None = None
        self.requests = 0
        self.mode = ""  # "binary" or "json" (HTTP), "grpc"
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        if self.label:
            return self.label
        try:
            return f"remote:{self.target().display}"
        except UsageError:
            return "remote:" + self.option

    def target(self) -> _Target:
        if self._target is None:
            if not self.option:
                raise UsageError("remote needs a URL", "remote:http://HOST:PORT/v2/models/NAME or remote:grpc://HOST:PORT/NAME")
            self._target = _Target(self.option)
        return self._target

    # -- headers: given or from the environment, never shown --------------------------------
    def _headers(self) -> list[tuple[str, str]]:
        hdrs = list(getattr(self.ctx, "headers", None) or [])
        token = os.environ.get(TOKEN_ENV, "").strip()
        if token and not any(k.lower() == "authorization" for k, _ in hdrs):
            hdrs.append(("Authorization", f"Bearer {token}"))
        return hdrs

    def _secrets(self) -> list[str]:
        out = []
        for _, v in self._headers():
            out.append(v)
            out += [w for w in v.split() if len(w) >= 6]  # the token alone, without "Bearer"
        return sorted(set(out), key=len, reverse=True)

    def _auth_desc(self) -> str:
        names = sorted({k for k, _ in self._headers()})
        if not names:
            return "none"
        src = f" (token from {TOKEN_ENV})" if os.environ.get(TOKEN_ENV, "").strip() and not any(k.lower() == "authorization" for k, _ in (getattr(self.ctx, "headers", None) or [])) else ""
        return "headers " + ", ".join(names) + src + "; values not shown"

    def _max_bytes(self) -> int:
        raw = os.environ.get("IRISONNX_REMOTE_MAX_REQUEST_BYTES", "").strip()
        if not raw:
            return DEFAULT_MAX_REQUEST_BYTES
        if not raw.isdigit() or int(raw) < 1024:
            raise UsageError("bad IRISONNX_REMOTE_MAX_REQUEST_BYTES", repr(raw), "give a byte count of at least 1024")
        return int(raw)

    # -- availability and activation ----------------------------------------------------------
    def is_available(self) -> tuple[bool, str]:
        t = self.target()
        info = self.ctx.model_info
        if info is None:
            return False, "needs the local ONNX model (its signature is checked against the server's)"
        bad = [s.describe() for s in list(info.signature.inputs) + list(info.signature.outputs) if not s.is_tensor or s.dtype not in OIP_DTYPES or s.dtype == "bfloat16"]
        if bad:
            return False, f"the protocol carries tensors of its datatypes only; this model has {', '.join(bad)}"
        if t.grpc:
            try:
                import tritonclient.grpc  # noqa: F401
            except ImportError:
                return False, "gRPC needs tritonclient; pip install 'irisonnx[remote]'"
        return True, ""

    def _fail(self, exc: Exception, doing: str) -> Exception:
        secrets = self._secrets()
        if isinstance(exc, _Unreachable):
            return RuntimeUnavailable(f"{self.name} unavailable", _one_line(str(exc), secrets), "start the server or check the URL")
        if isinstance(exc, _ServerError):
            text = _one_line(exc.text, secrets)
            if exc.status in (401, 403):
                return UsageError(f"{self.name} refused {doing} ({exc.status})", text, f"give a token with --header 'Authorization: Bearer ...' or {TOKEN_ENV}")
            if 400 <= exc.status < 500:
                return UsageError(f"{self.name} refused {doing} ({exc.status})", text)
            return RuntimeUnavailable(f"{self.name} failed {doing}" + (f" ({exc.status})" if exc.status else ""), text)
        return exc

    def _activate(self) -> None:
        ok, why = self.is_available()
        if not ok:
            raise RuntimeUnavailable(f"{self.name} unavailable", why)
        t = self.target()
        self._max = self._max_bytes()
        try:
            if t.grpc:
                server, meta = self._grpc_metadata()
            else:
                self._http = _Http(t, self._headers(), DEFAULT_TIMEOUT_S)
                _, body = self._http.request("GET", f"{t.prefix}/v2")
                server = json.loads(body)
                _, body = self._http.request("GET", t.path())
                meta = json.loads(body)
                self.mode = "binary"
        except (_Unreachable, _ServerError) as exc:
            raise self._fail(exc, "the metadata request") from None
        except ValueError:
            raise RuntimeUnavailable(f"{self.name} unavailable", "the server's metadata is not JSON", "is the URL an Open Inference Protocol endpoint?") from None
        if not isinstance(meta, dict) or not isinstance(server, dict):
            raise RuntimeUnavailable(f"{self.name} unavailable", "the server's metadata is not a JSON object")
        self.server = {"name": str(server.get("name", "unknown")), "version": str(server.get("version", "unknown")), "extensions": list(server.get("extensions") or [])}
        versions = meta.get("versions")
        self.model_meta = {"name": str(meta.get("name", t.model)), "version": t.version or (",".join(map(str, versions)) if versions else "unversioned"), "platform": str(meta.get("platform") or "")}
        self._check_signature(meta)

    def _check_signature(self, meta: dict[str, Any]) -> None:
        sig = self.ctx.model_info.signature
        problems: list[str] = []
        for kind, local in (("input", sig.inputs), ("output", sig.outputs)):
            served = meta.get(kind + "s") or []
            by = {str(m.get("name")): m for m in served if isinstance(m, dict)}
            names = [s.name for s in local]
            missing = [n for n in names if n not in by]
            extra = [n for n in by if n not in names]
            if missing:
                problems.append(f"the server has no {kind} {', '.join(map(repr, missing))}")
            if extra:
                problems.append(f"the server has an extra {kind} {', '.join(map(repr, extra))}")
            for s in local:
                m = by.get(s.name)
                if m is None:
                    continue
                want = OIP_DTYPES.get(s.dtype, s.dtype)
                if str(m.get("datatype")) != want:
                    problems.append(f"{kind} {s.name!r} is {m.get('datatype')} on the server, {want} ({s.dtype}) in the model")
                shape = [d if isinstance(d, int) else -1 for d in s.shape]
                got = m.get("shape")
                if not isinstance(got, list) or len(got) != len(shape) or any(g != w and g != -1 for g, w in zip(got, shape)):
                    problems.append(f"{kind} {s.name!r} has shape {got} on the server, {shape} in the model")
        if problems:
            raise UsageError(f"{self.name} serves another signature", "; ".join(problems), "serve the same model file, or compare against the model the server has")

    # -- running ------------------------------------------------------------------------------
    def _chunks(self, feeds: dict[str, np.ndarray]) -> list[dict[str, np.ndarray]]:
        """The rows split so that no request body is over the limit (at least one row each)."""
        arrays = list(feeds.values())
        if not arrays or any(a.ndim == 0 for a in arrays) or len({a.shape[0] for a in arrays}) != 1 or not self.ctx.model_info.signature.batched():
            return [feeds]
        rows = arrays[0].shape[0]
        per_row = sum((_JSON_BYTES_PER_ELEMENT if self.mode == "json" else a.itemsize if a.dtype != object else 64) * math.prod(a.shape[1:]) for a in arrays)
        n = max(1, (self._max - min(4096, self._max // 4)) // max(per_row, 1))  # room for the JSON header
        if rows <= n:
            return [feeds]
        return [{k: v[i : i + n] for k, v in feeds.items()} for i in range(0, rows, n)]

    def _run(self, feeds: dict[str, np.ndarray], start: int) -> dict[str, np.ndarray]:
        parts = []
        while True:  # one request at a time, the rest cut again (a fallback to JSON changes the size)
            chunks = self._chunks(feeds)
            parts.append(self._one(chunks[0]))
            if len(chunks) == 1:
                break
            n = next(iter(chunks[0].values())).shape[0]
            feeds = {k: v[n:] for k, v in feeds.items()}
        if len(parts) == 1:
            return parts[0]
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    def _one(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        with self._lock:
            self.requests += 1
        try:
            if self.target().grpc:
                return self._grpc_infer(feeds)
            if self.mode == "binary":
                try:
                    return self._http_infer(feeds, binary=True)
                except _ServerError as exc:
                    if not 400 <= exc.status < 500 or exc.status in (401, 403, 404):
                        raise
            else:
                return self._http_infer(feeds, binary=False)
        except (_Unreachable, _ServerError) as exc:
            raise self._fail(exc, "an inference request") from None
        # A server without the binary extension (or one that refuses it): JSON from now on, the
        # rows cut again for JSON's larger bodies; if JSON is refused too, that error stands.
        self.mode = "json"
        try:
            return self._run(feeds, 0)
        except BaseException:
            self.mode = "binary"
            raise

    def _http_infer(self, feeds: dict[str, np.ndarray], binary: bool) -> dict[str, np.ndarray]:
        sig = self.ctx.model_info.signature
        t = self.target()
        ins, blobs = [], []
        for name, arr in feeds.items():
            dt = OIP_DTYPES[sig.input(name).dtype]
            d: dict[str, Any] = {"name": name, "shape": list(arr.shape), "datatype": dt}
            if binary:
                b = _to_bytes(arr, dt)
                d["parameters"] = {"binary_data_size": len(b)}
                blobs.append(b)
            else:
                d["data"] = arr.astype(object).reshape(-1).tolist() if dt == "BYTES" else arr.reshape(-1).tolist()
            ins.append(d)
        outs = [{"name": n, "parameters": {"binary_data": True}} for n in sig.output_names]
        head = json.dumps({"inputs": ins, "outputs": outs}, separators=(",", ":")).encode()
        if binary:
            body = head + b"".join(blobs)
            extra = {"Content-Type": "application/octet-stream", "Inference-Header-Content-Length": str(len(head))}
        else:
            body, extra = head, {"Content-Type": "application/json"}
        h, data = self._http.request("POST", t.path("/infer"), body, extra)
        return _decode_response(h, data)

    # -- gRPC (tritonclient, imported here only) ----------------------------------------------
    def _grpc_client(self) -> Any:
        import tritonclient.grpc as g

        c = getattr(self._grpc_local, "client", None)
        if c is None:
            c = g.InferenceServerClient(url=self.target().netloc, ssl=self.target().tls)
            self._grpc_local.client = c
        return c

    def _grpc_call(self, fn: Any) -> Any:
        from tritonclient.utils import InferenceServerException

        try:
            return fn()
        except InferenceServerException as exc:
            status = str(exc.status() or "")
            text = exc.message() or str(exc)
            if any(s in status for s in ("UNAVAILABLE", "DEADLINE_EXCEEDED", "CANCELLED")):
                raise _Unreachable(f"{status.replace('StatusCode.', '')} at {self.target().netloc}: {text}") from None
            code = 401 if "UNAUTHENTICATED" in status else 403 if "PERMISSION_DENIED" in status else 404 if "NOT_FOUND" in status else 400 if any(s in status for s in ("INVALID_ARGUMENT", "FAILED_PRECONDITION", "OUT_OF_RANGE", "RESOURCE_EXHAUSTED")) else 500
            raise _ServerError(code, f"{status.replace('StatusCode.', '')}: {text}") from None

    def _grpc_metadata(self) -> tuple[dict[str, Any], dict[str, Any]]:
        self._grpc_local = threading.local()
        self._grpc_headers = dict(self._headers())
        self.mode = "grpc"
        t = self.target()
        c = self._grpc_client()
        server = self._grpc_call(lambda: c.get_server_metadata(headers=self._grpc_headers, as_json=True))
        meta = self._grpc_call(lambda: c.get_model_metadata(t.model, t.version, headers=self._grpc_headers, as_json=True))
        for m in list(meta.get("inputs") or []) + list(meta.get("outputs") or []):  # int64 shapes come back as strings in JSON
            m["shape"] = [int(d) for d in m.get("shape") or []]
        return server, meta

    def _grpc_infer(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import tritonclient.grpc as g

        sig = self.ctx.model_info.signature
        t = self.target()
        ins = []
        for name, arr in feeds.items():
            dt = OIP_DTYPES[sig.input(name).dtype]
            i = g.InferInput(name, list(arr.shape), dt)
            i.set_data_from_numpy(arr.astype(object) if dt == "BYTES" else np.ascontiguousarray(arr))
            ins.append(i)
        outs = [g.InferRequestedOutput(n) for n in sig.output_names]
        c = self._grpc_client()
        res = self._grpc_call(lambda: c.infer(t.model, ins, model_version=t.version, outputs=outs, headers=self._grpc_headers))
        got = {}
        for n in sig.output_names:
            a = res.as_numpy(n)
            if a is None:
                raise _ServerError(500, f"the response has no output {n!r}")
            got[n] = np.array(a, copy=True)
        return got

    def deactivate(self) -> None:
        http_ = getattr(self, "_http", None)
        if http_ is not None:
            http_.close()
        local = getattr(self, "_grpc_local", None)
        c = getattr(local, "client", None) if local is not None else None
        if c is not None:
            try:
                c.close()
            except Exception:  # noqa: BLE001 - closing a channel that is already gone
                pass
            local.client = None
        super().deactivate()

    def info(self) -> dict[str, Any]:
        t = self.target()
        d: dict[str, Any] = {"name": self.name, "kind": self.kind, "url": t.display, "protocol": "grpc" if t.grpc else "http", "auth": self._auth_desc()}
        if self._active:
            d["server"] = self.server
            d["model"] = self.model_meta
            d["versions"] = {f"server {self.server['name']}": self.server["version"], f"model {self.model_meta['name']}": self.model_meta["version"]}
            d["requests"] = self.requests
            d["max_request_bytes"] = self._max
            d["transport"] = {"binary": "HTTP, binary tensors", "json": "HTTP, JSON (the server refused binary inputs)", "grpc": "gRPC (tritonclient)"}[self.mode]
            d["note"] = f"{d['transport']}; {self.requests} request(s) of at most {self._max:,} bytes"
        return d


def _decode_response(h: dict[str, str], data: bytes) -> dict[str, np.ndarray]:
    """Outputs by name from a JSON or binary-extension response."""
    hlen = h.get("inference-header-content-length")
    try:
        n = int(hlen) if hlen is not None else len(data)
        doc = json.loads(data[:n])
    except ValueError:
        raise _ServerError(0, "the server's response is not Open Inference Protocol JSON") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("outputs"), list):
        raise _ServerError(0, "the server's response has no outputs list")
    pos = n
    out: dict[str, np.ndarray] = {}
    for o in doc["outputs"]:
        name, dt, shape = o.get("name"), o.get("datatype"), [int(s) for s in o.get("shape", [])]
        if dt not in _NP_OF or dt == "BF16":
            raise _ServerError(0, f"output {name!r} has datatype {dt!r}, which irisonnx cannot read")
        size = (o.get("parameters") or {}).get("binary_data_size")
        if size is not None:
            buf = data[pos : pos + int(size)]
            if len(buf) != int(size):
                raise _ServerError(0, f"output {name!r} declares {size} bytes, the response holds {len(buf)}")
            pos += int(size)
            out[name] = _from_bytes(buf, dt, shape)
        else:
            vals = o.get("data")
            flat = np.array([v for v in _flatten(vals)], dtype=object if dt == "BYTES" else np.dtype(_NP_OF[dt]))
            if flat.size != math.prod(shape):
                raise _ServerError(0, f"output {name!r} has {flat.size} values for shape {shape}")
            out[name] = flat.reshape(shape)
    return out


def _flatten(v: Any) -> Any:
    if isinstance(v, list):
        for x in v:
            yield from _flatten(x)
    else:
        yield v
