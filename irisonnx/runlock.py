"""One writer per run folder: an exclusive ``fcntl.flock`` on ``RUN/.irisonnx.lock``.

Every command that writes into a run (train, export, compare --save-io into the run, edge,
bench, report, pipeline) holds :func:`run_lock` while it works. A second writer gets exit 2
at once, naming the holder's pid and command, which the holder writes into the lock file
right after locking (and clears when it lets go). The kernel drops the lock when the holder
dies, SIGKILL included, so a dead writer never blocks the next one.

The lock is re-entrant within a process (``pipeline`` takes it once; its stages, which are
the same library calls the single commands make, take it again for free).

Readers (predict, inspect, compare, verify) take no lock; files are replaced atomically, so
they see the old or the new file. When what they read does not match the manifest and a
writer holds the run, :func:`busy_error` turns "corrupt or incomplete" into "another process
is writing this run" (same exit code as a second writer).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shlex
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

from irisonnx.errors import IrisOnnxError, StorageError, UsageError

__all__ = ["LOCK_NAME", "run_lock", "lock_if_run", "holder", "busy_error", "held_here"]

LOCK_NAME = ".irisonnx.lock"

_mutex = threading.Lock()
_held: dict[str, list[int]] = {}  # realpath of the run folder -> [fd, depth]


def _key(run_dir: Path) -> str:
    return os.path.realpath(run_dir)


def _command() -> str:
    argv = list(sys.argv)
    if argv and os.path.basename(argv[0]) in ("irisonnx", "__main__.py", "-m"):
        argv[0] = "irisonnx"
    return shlex.join(argv) if argv else "?"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return pid > 0
    return True


def _describe(path: Path) -> str:
    """'pid N (irisonnx train ...)' from the lock file; retried briefly, since a new holder
    writes its pid a moment after it locks."""
    for _ in range(20):
        try:
            text = path.read_text(encoding="utf-8")
            doc = json.loads(text) if text.strip() else None
        except (OSError, ValueError):
            doc = None
        if isinstance(doc, dict) and isinstance(doc.get("pid"), int) and _pid_alive(doc["pid"]):
            return f"pid {doc['pid']} ({doc.get('command', '?')})"
        time.sleep(0.01)
    return "a process that did not say who it is"


def held_here(run_dir: str | os.PathLike) -> bool:
    """True when this process holds the lock on ``run_dir``."""
    with _mutex:
        return _key(Path(run_dir)) in _held


def holder(run_dir: str | os.PathLike) -> str | None:
    """Who holds the run's lock, when another process does; None when nobody (or we) do."""
    d = Path(run_dir)
    path = d / LOCK_NAME
    if held_here(d) or not path.is_file() or path.is_symlink():
        return None
    import fcntl

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return _describe(path)
            return None
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def busy_error(run_dir: str | os.PathLike) -> IrisOnnxError | None:
    """The error for a reader that found a run mid-write, or None when nobody is writing it."""
    who = holder(run_dir)
    if who is None:
        return None
    return UsageError(f"another process holds the run {run_dir}", f"it is being written by {who}", "wait for it to finish, then run this again")


@contextlib.contextmanager
def run_lock(run_dir: str | os.PathLike) -> Iterator[Path]:
    """Hold the run's exclusive lock (creating the folder if needed) for the ``with`` body.

    Refuses (exit 2) at once when another process holds it; re-entrant in this process.
    """
    import fcntl

    d = Path(run_dir)
    # Folders this call makes, deepest first: removed again if they are still empty when the
    # lock is let go (a train that failed on a full disk leaves no empty run folder behind).
    made = [p for p in (d, *d.parents) if not p.exists()]
    try:
        d.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise UsageError("run folder is not a folder", str(d)) from None
    except OSError as exc:
        raise StorageError(f"cannot create {d}", exc.strerror or str(exc)) from exc
    key = _key(d)
    with _mutex:
        if key in _held:
            _held[key][1] += 1
            reentered = True
        else:
            reentered = False
    if reentered:
        try:
            yield d
        finally:
            with _mutex:
                _held[key][1] -= 1
        return

    path = d / LOCK_NAME
    fd = _acquire(d, path)
    try:
        info = json.dumps({"pid": os.getpid(), "command": _command()}).encode("utf-8")
        os.ftruncate(fd, 0)
        os.pwrite(fd, info, 0)
    except OSError:
        pass  # the lock holds without the note; a second writer is told "did not say who"
    with _mutex:
        _held[key] = [fd, 1]
    try:
        yield d
    finally:
        with _mutex:
            _held.pop(key, None)
        # Unlinked while still locked, so an idle run holds no lock file (nor a stale pid);
        # _acquire's inode check makes a writer that opened the old file try again.
        with contextlib.suppress(OSError):
            os.unlink(path)
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
        for folder in made:
            try:
                folder.rmdir()  # only an empty one: anything written there stays
            except OSError:
                break


def _acquire(d: Path, path: Path) -> int:
    """Open and flock the lock file; the descriptor of the locked file, which is the one at
    ``path`` (a holder that let go meanwhile unlinked the one we opened: open it again)."""
    import fcntl

    deadline = time.monotonic() + 0.2
    while True:
        if path.is_symlink():
            from irisonnx.errors import ArtifactError

            raise ArtifactError("the run's lock file is a symlink", str(path), "delete it; irisonnx creates it itself")
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
        except OSError as exc:
            raise StorageError(f"cannot create the run's lock file {path}", exc.strerror or str(exc), "check the folder's permissions") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise StorageError(f"cannot lock {path}", exc.strerror or str(exc)) from exc
            # A reader's probe (holder()) holds it for microseconds and writes no pid: retry
            # briefly; a writer's lock lasts, and it names itself in the file.
            if time.monotonic() > deadline:
                raise UsageError(f"another process holds the run {d}", f"locked by {_describe(path)}", "wait for it to finish, or use another run folder") from None
            time.sleep(0.01)
            continue
        try:
            same = os.fstat(fd).st_ino == os.lstat(path).st_ino
        except OSError:
            same = False
        if same:
            return fd
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def lock_if_run(target: str | os.PathLike | None, when: bool = True) -> contextlib.AbstractContextManager:
    """run_lock on the run ``target`` is (or whose model.onnx it is); a no-op for anything else."""
    from irisonnx.guard import is_run_folder

    run = is_run_folder(target) if target is not None and when else None
    return run_lock(run) if run is not None else contextlib.nullcontext()
