"""onnxruntime-web in headless Chromium: availability, a local server, and a driven page.

Pieces: the npm packages onnxruntime-web 1.30.0 and playwright-core (``irisonnx setup web``
runs ``npm ci`` from the shipped lock file into a per-user cache; a checkout may have them in
``web/node_modules`` instead, from ``make web-deps``), Debian's ``chromium``, and Node.js. A :class:`BrowserSession` starts
:mod:`irisonnx.browser.webserver` on 127.0.0.1 (ephemeral port), then ``node web/driver.mjs``, which
opens the page in Chromium and answers JSON-line commands. Every step has a time limit; both
processes are stopped by process id at the end, and on Linux they also get SIGTERM when the
process that started them dies (``PR_SET_PDEATHSIG``), so a SIGKILLed owner leaves no server.

The page reaches only its own server: the driver aborts every other request and lists it;
any such request is :class:`UnsafePage` (exit 3), whichever step it happened in.
"""

from __future__ import annotations

import base64
import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from irisonnx.errors import ArtifactError, RuntimeUnavailable

__all__ = ["ORT_WEB_FILES", "SETUP_HINT", "web_dir", "web_cache_dir", "web_packages_dir", "setup_web", "ort_dist", "chromium_path", "browser_available", "BrowserSession", "UnsafePage"]

ORT_WEB_FILES = ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
STEP_TIMEOUT = 30.0  # seconds for any one browser step
_DTYPES = {"float32": np.float32, "float16": np.float16, "int64": np.int64, "int32": np.int32, "bool": np.bool_, "uint8": np.uint8, "int8": np.int8}


SETUP_HINT = "run: irisonnx setup web"
_STAMP = ".irisonnx-lock.sha256"  # in the cache: sha256 of the package-lock.json it was installed from


def web_dir() -> Path:
    """The page, driver and lock file: ``$IRISONNX_WEB_DIR``, else the package's (an installed
    wheel) or the checkout's ``web/``."""
    env = os.environ.get("IRISONNX_WEB_DIR")
    if env:
        return Path(env)
    from irisonnx.assets import asset

    return asset("web")


def web_cache_dir() -> Path:
    """Where ``irisonnx setup web`` installs the npm packages: ``$XDG_CACHE_HOME/irisonnx/web``
    (``~/.cache/irisonnx/web`` when XDG_CACHE_HOME is unset)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "irisonnx" / "web"


def web_packages_dir() -> Path:
    """The folder whose ``node_modules`` the browser runtime uses: ``$IRISONNX_WEB_DIR``; else
    :func:`web_dir` when it has a ``node_modules`` (a checkout after ``make web-deps``); else
    the per-user cache."""
    if os.environ.get("IRISONNX_WEB_DIR") or (web_dir() / "node_modules").is_dir():
        return web_dir()
    return web_cache_dir()


def ort_dist() -> Path:
    return web_packages_dir() / "node_modules" / "onnxruntime-web" / "dist"


def _lock_sha256() -> str:
    import hashlib

    return hashlib.sha256((web_dir() / "package-lock.json").read_bytes()).hexdigest()


def setup_web(dest: str | os.PathLike | None = None, timeout: float = 900.0) -> Path:
    """``npm ci`` from the shipped lock file into ``dest`` (default :func:`web_cache_dir`):
    exactly onnxruntime-web and playwright-core, no browser download. Returns ``dest``.
    Raises :class:`RuntimeUnavailable` (exit 4) without npm or when npm fails."""
    from irisonnx.storage import atomic_write_bytes, atomic_write_text

    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeUnavailable("cannot install the web packages", "npm is not on PATH", "install Node.js with npm, then rerun irisonnx setup web")
    out = Path(dest) if dest is not None else web_cache_dir()
    for name in ("package.json", "package-lock.json"):
        atomic_write_bytes(out / name, (web_dir() / name).read_bytes())
    env = {**os.environ, "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1"}
    try:
        r = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=str(out), env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise RuntimeUnavailable("cannot install the web packages", f"npm ci in {out} took over {timeout:.0f} s") from None
    if r.returncode != 0:
        last = next((ln for ln in reversed((r.stderr or r.stdout).splitlines()) if ln.strip()), f"exit {r.returncode}")
        raise RuntimeUnavailable("cannot install the web packages", f"npm ci in {out} failed: {last.strip()}")
    atomic_write_text(out / _STAMP, _lock_sha256() + "\n")
    return out


def chromium_path() -> str | None:
    env = os.environ.get("IRISONNX_CHROMIUM")
    if env:
        return env if Path(env).exists() else None
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def browser_available() -> tuple[bool, str]:
    if shutil.which("node") is None:
        return False, "Node.js (node) is not on PATH"
    if chromium_path() is None:
        return False, "Chromium not found (apt-get install -y chromium, or set IRISONNX_CHROMIUM)"
    where = web_packages_dir()
    missing = [f for f in ORT_WEB_FILES if not (ort_dist() / f).is_file()]
    if missing or not (where / "node_modules" / "playwright-core").is_dir():
        return False, f"web packages (onnxruntime-web, playwright-core) not installed in {where} ({SETUP_HINT})"
    if where == web_cache_dir() and not os.environ.get("IRISONNX_WEB_DIR"):
        stamp = where / _STAMP
        if not stamp.is_file() or stamp.read_text().strip() != _lock_sha256():
            return False, f"web packages in {where} were installed from another lock file than this irisonnx's ({SETUP_HINT})"
    return True, ""


class UnsafePage(ArtifactError):
    """The page tried to reach something other than its own local server (exit 3)."""


def _die_with_parent() -> None:
    """Runs in the child between fork and exec: SIGTERM when the parent dies (Linux only).
    Belt and braces under BrowserSession.close(): this one also holds when the owner is
    SIGKILLed. Popen is called from the thread that owns the session, and the signal is tied
    to that thread, which lives as long as the session is used."""
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        pass


_CHILD = {"preexec_fn": _die_with_parent} if sys.platform.startswith("linux") else {}


class BrowserSession:
    """One Chromium page served from 127.0.0.1: ``root`` holds the page and model files.

    Use as a context manager. ``page`` is a file name inside ``root`` (query string allowed).
    """

    def __init__(self, root: str | os.PathLike, page: str, timeout: float = STEP_TIMEOUT, wait_ready: bool = True) -> None:
        self.root, self.page, self.timeout, self.wait_ready = Path(root), page, timeout, wait_ready
        self.server: subprocess.Popen | None = None
        self.driver: subprocess.Popen | None = None
        self.log_path: Path | None = None
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._ready = False  # the page answered its first step

    def __enter__(self) -> "BrowserSession":
        ok, why = browser_available()
        if not ok:
            raise RuntimeUnavailable("browser runtime unavailable", why)
        self._tmp = tempfile.TemporaryDirectory(prefix="irisonnx-web-")
        self.log_path = Path(self._tmp.name) / "requests.log"
        try:
            self._start()
        except BaseException:
            self.close(check=False)
            raise
        return self

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        self.close(check=exc_type is None)

    def _start(self) -> None:
        cmd = [sys.executable, "-m", "irisonnx.browser.webserver", "--root", str(self.root), "--mount", f"ort={ort_dist()}", "--log", str(self.log_path)]
        self.server = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, **_CHILD)
        port = self._readline(self.server, "the local web server did not start")
        self.url = f"http://127.0.0.1:{int(port)}/{self.page}"
        self.driver = subprocess.Popen(
            ["node", str(web_dir() / "driver.mjs"), "--modules", str(web_packages_dir() / "node_modules"), "--chromium", str(chromium_path()), "--url", self.url, "--timeout", str(int(self.timeout * 1000))] + ([] if self.wait_ready else ["--ready", "load"]),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=str(web_dir()),
            **_CHILD,
        )
        first = self._answer("Chromium did not open the page", self.timeout * 2)
        if not first.get("ok"):
            raise RuntimeUnavailable("browser page failed", first.get("error", "unknown error") + _console(first))
        self._ready = True

    def _readline(self, proc: subprocess.Popen, what: str, timeout: float | None = None) -> str:
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        try:
            if not sel.select(timeout or self.timeout):
                raise RuntimeUnavailable(what, f"no answer within {timeout or self.timeout:.0f} s")
        finally:
            sel.close()
        line = proc.stdout.readline()
        if not line:
            err = [ln.strip() for ln in (proc.stderr.read() if proc.stderr else "").splitlines() if ln.strip() and not ln.startswith("Node.js v")]
            raise RuntimeUnavailable(what, (err[-1] if err else f"process exited with {proc.poll()}"))
        return line

    def _answer(self, what: str, timeout: float | None = None) -> dict[str, Any]:
        ans = json.loads(self._readline(self.driver, what, timeout))
        _refuse_blocked(ans)
        return ans

    def call(self, cmd: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
        assert self.driver is not None and self.driver.stdin is not None
        self.driver.stdin.write(json.dumps(cmd) + "\n")
        self.driver.stdin.flush()
        ans = self._answer(f"browser step {cmd['cmd']!r} failed", timeout)
        if not ans.get("ok"):
            raise RuntimeUnavailable(f"browser step {cmd['cmd']!r} failed", ans.get("error", "unknown error") + _console(ans))
        return ans

    def run(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Run a float32 (rows, cols) array in the page; outputs come back bit for bit."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        ans = self.call({"cmd": "run", "b64": base64.b64encode(x.tobytes()).decode("ascii"), "rows": int(x.shape[0]), "cols": int(x.shape[1])})
        out = {}
        for name, o in ans["outputs"].items():
            dt = _DTYPES.get(o["dtype"])
            if dt is None:
                raise RuntimeUnavailable("browser returned an unsupported dtype", f"{name}: {o['dtype']}")
            out[name] = np.frombuffer(base64.b64decode(o["b64"]), dtype=dt).reshape(o["dims"]).copy()
        return out

    def info(self) -> dict[str, Any]:
        return self.call({"cmd": "info"})

    def evaluate(self, js: str) -> Any:
        return self.call({"cmd": "eval", "js": js})["value"]

    def requests(self) -> list[str]:
        """Every request the server saw: 'client method path status' lines."""
        return self.log_path.read_text().splitlines() if self.log_path and self.log_path.exists() else []

    def close(self, check: bool = True) -> None:
        """Close the browser and stop both processes. The driver's last answer is read first:
        with ``check``, a request the page tried after the last step still fails the session
        (UnsafePage); pass False when another error is already on its way."""
        last: dict[str, Any] = {}
        if self.driver is not None and self.driver.poll() is None and not (check and self._ready):
            _kill(self.driver)  # a failure or a signal: SIGTERM, on which the driver closes Chromium and exits
        elif self.driver is not None and self.driver.poll() is None:
            try:
                self.driver.stdin.write(json.dumps({"cmd": "close"}) + "\n")
                self.driver.stdin.flush()
                self.driver.stdin.close()  # the driver exits on "close" and on end of input
                line = self._readline(self.driver, "closing the browser", 10)
                last = json.loads(line)
                self.driver.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired, ValueError, RuntimeUnavailable):
                _kill(self.driver)
        for proc in (self.driver, self.server):
            if proc is not None:
                _kill(proc)
                for stream in (proc.stdout, proc.stderr, proc.stdin):
                    if stream is not None:
                        stream.close()
        self.driver = self.server = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
        if check:
            _refuse_blocked(last)


def _refuse_blocked(ans: dict[str, Any]) -> None:
    blocked = ans.get("blocked") or []
    if blocked:
        more = f" and {len(blocked) - 1} more" if len(blocked) > 1 else ""
        raise UnsafePage(
            "the web page tried to reach outside its local server",
            f"blocked {blocked[0]}{more}",
            "nothing was written; names shown in the page (classes, features, dataset) must not carry markup, and the page must load nothing from elsewhere",
        )


def _kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


def _console(ans: dict[str, Any]) -> str:
    lines = ans.get("console") or []
    return f" (page console: {lines[-1]})" if lines else ""
