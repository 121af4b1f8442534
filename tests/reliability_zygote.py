"""A fork server for the fault-injection tests (not a test module; run as a script).

It imports irisonnx's training stack once, then runs each request in a forked child that
executes the real CLI entry point, ``irisonnx.cli.main(argv)``, and, if asked, sends that
child a signal at a chosen instant. The child is a real process killed for real; only the
interpreter start-up (about 2 s of imports on a busy 2-core box) is shared, which is what
makes hundreds of kill points affordable. Nothing is computed before the fork, so no torch
thread pool is copied into a child.

Protocol: one JSON request per line on stdin, one JSON reply per line on stdout.

``{"op": "sh", "cmd": CMD}`` runs a shell command in the server's own mount namespace.

request: ``{"argv": [...], "env": {...}, "stderr": PATH, "signal": 9, "after": SECONDS,
"when": [FOLDER, GLOB, SECONDS], "timeout": SECONDS}``. ``after``: signal that many seconds
after the fork. ``when``: signal SECONDS after a file matching GLOB appears in FOLDER (to
land inside a save). Neither: just wait for the exit.

reply: ``{"pid", "exit" (code or null), "signal" (number or null), "sent", "sent_at",
"elapsed", "hung"}``.
"""

from __future__ import annotations

import fnmatch
import json
import os
import signal
import sys
import time


# Exit code of a child whose SIGINT landed outside irisonnx.cli.main (in the fork server's
# own set-up before main, or after main returned): a harness event, not the CLI's answer.
OUTSIDE_MAIN = 75


def _preload():  # type: ignore[no-untyped-def]
    import numpy  # noqa: F401
    import safetensors.torch  # noqa: F401
    import torch  # noqa: F401
    import torch._dynamo  # noqa: F401 - torch.optim's first optimizer imports it: seconds per child otherwise

    import irisonnx.training.checkpoint  # noqa: F401
    import irisonnx.cli
    import irisonnx.cli.train_cmd  # noqa: F401
    import irisonnx.data.datastore  # noqa: F401
    import irisonnx.training.model  # noqa: F401
    import irisonnx.training.train  # noqa: F401

    return irisonnx.cli.main


def _child(main, req: dict) -> int:  # type: ignore[no-untyped-def]
    os.environ.update(req.get("env", {}))
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    err = os.open(req["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644) if req.get("stderr") else null
    os.dup2(err, 2)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        main(req["argv"])
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0


def _matches(folder: str, pattern: str) -> bool:
    try:
        return any(fnmatch.fnmatch(e.name, pattern) for e in os.scandir(folder))
    except OSError:
        return False


def _serve(main, req: dict) -> dict:  # type: ignore[no-untyped-def]
    t0 = time.monotonic()
    pid = os.fork()
    if pid == 0:
        code = 71
        try:
            code = _child(main, req)
        except KeyboardInterrupt:  # a SIGINT after main returned, or before it started
            code = OUTSIDE_MAIN
        except BaseException:  # noqa: BLE001 - the child must never return into the server loop
            code = 71
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)
    deadline = t0 + req["after"] if req.get("after") is not None else None
    when = req.get("when")
    sig = int(req.get("signal", signal.SIGKILL))
    sent, sent_at, hung = False, None, False
    while True:
        wpid, status = os.waitpid(pid, os.WNOHANG)
        if wpid:
            break
        now = time.monotonic()
        if when and deadline is None and _matches(when[0], when[1]):
            deadline = now + float(when[2])
        if deadline is not None and not sent and now >= deadline:
            os.kill(pid, sig)
            sent, sent_at = True, now - t0
        if now - t0 > float(req.get("timeout", 120)):
            hung = True
            os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
            break
        time.sleep(0.0005)
    return {
        "pid": pid,
        "exit": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
        "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
        "sent": sent,
        "sent_at": sent_at,
        "elapsed": time.monotonic() - t0,
        "hung": hung,
    }


def main() -> None:
    serve_main = _preload()
    print(json.dumps({"ready": os.getpid()}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        if req.get("op") == "sh":  # a command in this server's namespace (mount a tmpfs, probe)
            import subprocess

            r = subprocess.run(req["cmd"], shell=True, capture_output=True, text=True)
            print(json.dumps({"rc": r.returncode, "out": r.stdout + r.stderr}), flush=True)
            continue
        print(json.dumps(_serve(serve_main, req)), flush=True)


if __name__ == "__main__":
    main()
