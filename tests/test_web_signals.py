"""Signals end the browser's processes and temp folders with their owner (issue 15, item 2).

``compare --runtimes ort-cpu,web`` and ``edge --web`` start a local web server (Python), a
driver (node) and Chromium (with its zygotes). SIGTERM, SIGINT or SIGHUP to irisonnx: exit
128+N with one line, no process of that tree left, no temp folder left (each command runs
with a private TMPDIR, which Python and node both honour). SIGKILL cannot be caught, but the
server and the driver get SIGTERM from the kernel when their parent dies (PR_SET_PDEATHSIG):
no process left then either.

The page here never becomes ready (a copy of web/ whose page waits), so the signal lands while
the command waits on the browser, at a point that does not depend on the machine's speed.
Linux only (/proc).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from irisonnx.browser.session import browser_available

ok, why = browser_available()
if not ok and not os.environ.get("IRISONNX_REQUIRE_BROWSER"):
    pytest.skip(f"browser runtime unavailable: {why}", allow_module_level=True)
if not Path("/proc/self/stat").exists():
    pytest.skip("needs /proc", allow_module_level=True)

HANG = "await new Promise(() => {}); // irisonnx test: never ready\n"


def _stat(pid: int) -> tuple[int, str, int] | None:
    """(ppid, state, start time) of a live process, None when gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[1]), fields[0], int(fields[19])


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _descendants(root: int) -> dict[int, tuple[int, str]]:
    """pid -> (start time, command line) of every live process below ``root``."""
    parent = {}
    for d in os.listdir("/proc"):
        if d.isdigit() and (st := _stat(int(d))) is not None and st[1] != "Z":
            parent[int(d)] = st
    found, todo = {}, [root]
    while todo:
        p = todo.pop()
        for c, (pp, _, start) in parent.items():
            if pp == p and c not in found:
                found[c] = (start, _cmdline(c))
                todo.append(c)
    return found


@pytest.fixture
def tmp() -> Path:
    """A private TMPDIR with a short path: Chromium refuses a profile whose socket path is
    over 107 bytes (FATAL "Socket path too long"), which pytest's tmp_path can be."""
    d = Path(tempfile.mkdtemp(prefix="iw-", dir="/tmp"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _left(tmp: Path) -> list[str]:
    """What is left in TMPDIR, less onnxruntime's ``.ses`` (a session-id file that any
    onnxruntime user writes there and keeps: not a temp folder of ours)."""
    return sorted(p.name for p in tmp.iterdir() if p.name != ".ses")


_SEEN: dict[int, tuple[int, str]] = {}


@pytest.fixture(autouse=True)
def reaper():
    """After each test (and its assertions), kill what a failed one left: never leave a stray
    process of our own behind."""
    yield
    for pid, (start, _) in _SEEN.items():
        if _alive(pid, start):
            os.kill(pid, signal.SIGKILL)
    _SEEN.clear()


def _alive(pid: int, start: int) -> bool:
    st = _stat(pid)
    return st is not None and st[1] != "Z" and st[2] == start  # same process, not a reused pid


@pytest.fixture(scope="module")
def exported(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from irisonnx.export.export import export_run

    run = tmp_path_factory.mktemp("websig") / "run"
    shutil.copytree(tiny_run, run)
    export_run(run, exporter="torchscript")
    return run


@pytest.fixture(scope="module")
def hanging_web(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """web/ with pages that load, then never say they are ready."""
    from irisonnx.browser.session import web_dir

    src, dst = web_dir(), tmp_path_factory.mktemp("hang") / "web"
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("node_modules"))
    (dst / "node_modules").symlink_to((src / "node_modules").resolve())
    for name, anchor in (("runner.html", "  status.textContent = 'ready';"), ("bundle/app.mjs", "  window.irisonnxReady = true;")):
        text = (dst / name).read_text()
        assert anchor in text
        (dst / name).write_text(text.replace(anchor, "  " + HANG + anchor, 1))
    return dst


def _run_and_signal(argv: list[str], sig: int, web: Path, tmp: Path) -> tuple[int, str, dict[int, tuple[int, str]], float]:
    """Start irisonnx, wait until Chromium is up under it, send ``sig`` to irisonnx alone.
    Returns the exit code, stderr, every process seen below it, and seconds to exit."""
    env = {**os.environ, "TMPDIR": str(tmp), "IRISONNX_WEB_DIR": str(web)}
    proc = subprocess.Popen([sys.executable, "-m", "irisonnx", *argv], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seen: dict[int, tuple[int, str]] = {}
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            seen.update(_descendants(proc.pid))
            cmds = [c for _, c in seen.values()]
            # Chromium's renderer is up: the page is loading (and will never be ready).
            if any("irisonnx.browser.webserver" in c for c in cmds) and any("--type=renderer" in c for c in cmds):
                break
            time.sleep(0.05)
        assert proc.poll() is None, f"irisonnx ended before the browser was up: {proc.returncode} {proc.stderr.read()}"
        seen.update(_descendants(proc.pid))
        t = time.monotonic()
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
        took = time.monotonic() - t
        return proc.returncode, err, seen, took
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        _SEEN.update(seen)  # for the reaper, after the test has looked


def _assert_all_gone(seen: dict[int, tuple[int, str]], within: float = 5.0) -> None:
    kinds = {"server": "irisonnx.browser.webserver", "driver": "driver.mjs", "chromium": "chromium"}
    for kind, mark in kinds.items():
        assert any(mark in c for _, c in seen.values()), f"no {kind} process was seen: {seen}"
    deadline = time.monotonic() + within
    while (left := {p: c for p, (s, c) in seen.items() if _alive(p, s)}) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not left, f"processes outlived irisonnx: {left}"


SIGNALS = [(signal.SIGTERM, "SIGTERM"), (signal.SIGINT, None), (signal.SIGHUP, "SIGHUP")]


@pytest.mark.parametrize(("sig", "name"), SIGNALS, ids=["SIGTERM", "SIGINT", "SIGHUP"])
def test_signal_during_compare_web_ends_children_and_temp_folders(exported: Path, hanging_web: Path, tmp: Path, sig: int, name: str | None) -> None:
    code, err, seen, took = _run_and_signal(["compare", str(exported), "--runtimes", "ort-cpu,web", "--inputs", "random:100"], sig, hanging_web, tmp)
    assert code == 128 + sig, (code, err)
    if sig == signal.SIGINT:
        err = err.lstrip("\n")  # click ends a terminal's ^C line first, as for any command (tests/test_reliability_faults.py)
    assert err.count("\n") == 1 and err.startswith(f"irisonnx: interrupted by {name};" if name else "irisonnx: interrupted;"), err
    _assert_all_gone(seen)
    assert _left(tmp) == []  # irisonnx-webrt-*, irisonnx-web-*, Chromium's profile
    assert took < 15, f"{took:.1f} s to exit"


@pytest.mark.parametrize(("sig", "name"), SIGNALS[:1], ids=["SIGTERM"])
def test_signal_during_edge_web_ends_children_and_keeps_the_previous_bundle(exported: Path, hanging_web: Path, tmp: Path, tmp_path: Path, sig: int, name: str) -> None:
    from conftest import run_cli

    out = tmp_path / "edge"
    r = run_cli("edge", str(exported), "--variants", "fp32", "--out", str(out), "--bench-rounds", "0")
    assert r.returncode == 0, r.stderr
    previous = {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    code, err, seen, _ = _run_and_signal(["edge", str(exported), "--variants", "fp32,int8-dynamic", "--out", str(out), "--web", "--bench-rounds", "0"], sig, hanging_web, tmp)
    assert code == 128 + sig, (code, err)
    assert err.count("\n") == 1 and err.startswith(f"irisonnx: interrupted by {name};"), err
    _assert_all_gone(seen)
    assert _left(tmp) == []
    assert {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()} == previous
    assert sorted(p.name for p in tmp_path.iterdir()) == ["edge"]  # no staging folder beside the bundle


def test_sigkill_of_irisonnx_still_ends_server_driver_and_chromium(exported: Path, hanging_web: Path, tmp: Path) -> None:
    """SIGKILL runs no clean-up at all: the kernel's parent-death signal (PR_SET_PDEATHSIG)
    ends the server and the driver, and the driver closes Chromium on its way out. Before,
    the server stayed under PID 1, still serving the model on 127.0.0.1."""
    code, _, seen, _ = _run_and_signal(["compare", str(exported), "--runtimes", "ort-cpu,web", "--inputs", "random:100"], signal.SIGKILL, hanging_web, tmp)
    assert code == -signal.SIGKILL
    _assert_all_gone(seen, within=10.0)
