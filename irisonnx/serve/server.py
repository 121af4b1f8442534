"""Start and stop ``irisonnx serve``: the REST app on uvicorn and the gRPC server, one process.

The listening sockets are bound here before anything is served (a busy port is an exit-4
error line, not a uvicorn log), with SO_REUSEADDR only (never SO_REUSEPORT: a second server
on the same port must fail, not share it). SIGTERM, SIGINT and SIGHUP stop both servers:
idle connections are closed at once, requests in flight get up to one second, so the process
is gone and the ports are free within two seconds of the signal.
"""

from __future__ import annotations

import contextlib
import ipaddress
import signal
import socket
import threading
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from irisonnx.errors import StorageError, UsageError

__all__ = ["ServeOptions", "is_loopback", "serve", "DEFAULT_MAX_REQUEST_BYTES"]

DEFAULT_MAX_REQUEST_BYTES = 64 * 1024 * 1024  # 64 MiB: a batch of 32 fp32 224x224 RGB images is 19 MB
GRACE_S = 1.0  # in-flight requests get this long after a stop signal


@dataclass
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    grpc_port: int | None = 8001  # None: no gRPC
    token: str | None = None
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    threads: int = 4
    log: Callable[[str], None] | None = None


def _addresses(host: str) -> list[tuple[int, Any]]:
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UsageError("bad --host", f"{host!r} does not resolve: {exc.strerror}") from None
    return [(fam, sa) for fam, _t, _p, _c, sa in infos if fam in (socket.AF_INET, socket.AF_INET6)]


def is_loopback(host: str) -> bool:
    """True when every address ``host`` resolves to is a loopback address."""
    addrs = _addresses(host)
    return bool(addrs) and all(ipaddress.ip_address(sa[0].split("%")[0]).is_loopback for _f, sa in addrs)


def _bind(host: str, port: int) -> socket.socket:
    fam, sa = _addresses(host)[0]
    # proto IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY on accepted connections only when the
    # listening socket says TCP; without it uvicorn's body write waited out Nagle + delayed ACK (44 ms)
    sock = socket.socket(fam, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if fam == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    try:
        sock.bind((sa[0], port) if fam == socket.AF_INET else (sa[0], port, 0, sa[3]))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise StorageError(f"cannot listen on {host}:{port}", exc.strerror or str(exc), "choose another --port, or stop what holds it") from None
    sock.set_inheritable(False)
    return sock


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def serve(repo: Any, opts: ServeOptions, announce: Callable[[str, str | None], None]) -> int:
    """Serve ``repo`` until a stop signal; returns the signal's number. ``announce(http_url,
    grpc_target)`` is called once both servers accept requests."""
    import asyncio

    import uvicorn

    from irisonnx.serve.rest import make_app

    state = {"ready": False}
    ready = lambda: state["ready"]  # noqa: E731
    app = make_app(repo, token=opts.token, max_request_bytes=opts.max_request_bytes, threads=opts.threads, log=opts.log, ready=ready)
    sock = _bind(opts.host, opts.port)
    grpc_server = None
    grpc_target = None
    try:
        if opts.grpc_port is not None:
            from irisonnx.serve.grpc_server import make_server

            grpc_server, bound = make_server(repo, host=opts.host, port=opts.grpc_port, token=opts.token, max_request_bytes=opts.max_request_bytes, threads=opts.threads, log=opts.log, ready=ready)
            if not bound:
                raise StorageError(f"cannot listen on {opts.host}:{opts.grpc_port} for gRPC", "the port is taken or the address is not this machine's", "choose another --grpc-port, or --no-grpc")
            grpc_target = f"{_url_host(opts.host)}:{bound}"
            grpc_server.start()
        http_url = f"http://{_url_host(opts.host)}:{sock.getsockname()[1]}"
        config = uvicorn.Config(app, log_config=None, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=GRACE_S, server_header=False, timeout_keep_alive=5, limit_concurrency=None)
        server = _Server(config, grpc_server)

        def started() -> None:
            state["ready"] = True
            announce(http_url, grpc_target)

        server.on_started = started
        asyncio.run(server.serve(sockets=[sock]))
        return server.stopped_by or int(signal.SIGTERM)
    finally:
        state["ready"] = False
        if grpc_server is not None:
            grpc_server.stop(0).wait(GRACE_S)
        sock.close()


def _uvicorn_server_class() -> type:
    import uvicorn

    return uvicorn.Server


class _Server(_uvicorn_server_class()):  # type: ignore[misc]
    """uvicorn's Server with irisonnx's signal handling: a stop signal stops the gRPC server
    too and is reported back (uvicorn's own re-raises the signal after shutdown)."""

    def __init__(self, config: Any, grpc_server: Any) -> None:
        super().__init__(config)
        self.grpc_server = grpc_server
        self.stopped_by: int | None = None
        self.on_started: Callable[[], None] | None = None

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        sigs = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
        original = {s: signal.signal(s, self._on_signal) for s in sigs}
        try:
            yield
        finally:
            for s, h in original.items():
                signal.signal(s, h)

    def _on_signal(self, sig: int, frame: Any) -> None:
        if self.should_exit:
            self.force_exit = True  # a second signal: stop waiting for requests in flight
        self.stopped_by = self.stopped_by or sig
        self.should_exit = True
        if self.grpc_server is not None:
            self.grpc_server.stop(GRACE_S / 2)  # returns at once; in-flight calls get the grace

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets=sockets)
        if self.started and not self.should_exit and self.on_started is not None:
            self.on_started()
