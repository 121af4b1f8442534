"""A tiny static file server on 127.0.0.1 for the browser runtime and its tests.

Run as ``python -m irisonnx.browser.webserver --root DIR [--mount PREFIX=DIR ...] --log FILE``; it
binds an ephemeral port, prints ``PORT`` on its first stdout line, serves only regular files
below its roots (no listings, no ``..``), and logs every request (client, method, path,
status) to FILE, so tests can assert that every request came to 127.0.0.1. Stopped by its
process id (SIGTERM) when done.
"""

from __future__ import annotations

import argparse

import sys
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

TYPES = {".mjs": "text/javascript", ".js": "text/javascript", ".wasm": "application/wasm", ".onnx": "application/octet-stream", ".ort": "application/octet-stream", ".json": "application/json", ".html": "text/html; charset=utf-8", ".png": "image/png"}


def make_handler(roots: dict[str, Path], log: Any) -> type:
    class Handler(SimpleHTTPRequestHandler):
        def translate(self) -> Path | None:
            path = unquote(urlsplit(self.path).path)
            parts = [p for p in path.split("/") if p]
            if any(p in ("..", ".") or "\\" in p for p in parts):
                return None
            for prefix, root in roots.items():
                pre = [p for p in prefix.split("/") if p]
                if parts[: len(pre)] == pre:
                    rest = parts[len(pre) :] or ["index.html"]
                    target = root.joinpath(*rest).resolve()
                    if target.is_file() and target.is_relative_to(root.resolve()):
                        return target
            return None

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            target = self.translate()
            if target is None:
                self.send_error(404)
                return
            data = target.read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", TYPES.get(target.suffix, "application/octet-stream"))
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

        def do_HEAD(self) -> None:  # noqa: N802
            self.do_GET()

        def log_request(self, code: Any = "-", size: Any = "-") -> None:
            log.write(f"{self.client_address[0]} {self.command} {self.path} {code}\n")
            log.flush()

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m irisonnx.browser.webserver")
    ap.add_argument("--root", required=True)
    ap.add_argument("--mount", action="append", default=[], help="PREFIX=DIR")
    ap.add_argument("--log", required=True)
    a = ap.parse_args(argv)
    roots = {}
    for m in a.mount:
        prefix, _, d = m.partition("=")
        roots[prefix.strip("/")] = Path(d)
    roots[""] = Path(a.root)  # the catch-all comes last
    log = open(a.log, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - lives as long as the server
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(roots, log))
    print(server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        log.close()


if __name__ == "__main__":
    main(sys.argv[1:])


