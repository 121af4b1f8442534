"""Crash-safe file writes, checksums and the run manifest.

Every file irisonnx writes goes through :func:`atomic_writer`: a temp file in the same
folder, fsync, ``os.replace`` over the target, fsync of the folder. A kill at any instant
leaves either the previous good file or the new complete one, plus at worst a temp file
that :func:`remove_stale_temp_files` cleans up on the next start.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any, Iterable, Iterator

from irisonnx.errors import ArtifactError, StorageError, UsageError

__all__ = [
    "TEMP_MARK",
    "atomic_writer",
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_write_json",
    "dumps_json",
    "fsync_dir",
    "sha256_file",
    "sha256_bytes",
    "remove_stale_temp_files",
    "read_json",
    "read_input_file",
    "check_regular_file",
    "set_max_input_mb",
    "MAX_INPUT_MB",
    "Manifest",
]

TEMP_MARK = ".irisonnx-tmp-"
# Some writers (safetensors) create files 0600; give every file the mode a plain open() would.
_UMASK = os.umask(0)
os.umask(_UMASK)
_FILE_MODE = 0o666 & ~_UMASK
MANIFEST_NAME = "manifest.json"

def fsync_dir(path: str | os.PathLike) -> None:
    """fsync a folder so that a rename inside it survives a power cut."""
    fd = os.open(os.fspath(path), os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

def _storage_error(path: Path, exc: OSError) -> StorageError:
    why = exc.strerror or str(exc)
    hint = ""
    if exc.errno == errno.ENOSPC:
        hint = "free some disk space and run again; the previous file is intact"
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        hint = "check the folder's permissions; the previous file is intact"
    return StorageError(f"cannot write {path}", why, hint)

def make_dirs(folder: Path) -> list[Path]:
    """``mkdir -p folder``; returns the folders it created, outermost first, so that a write
    that then fails can take them away again (:func:`remove_made_dirs`): no empty leftovers."""
    missing = [d for d in (folder, *folder.parents) if not d.exists()][::-1]
    folder.mkdir(parents=True, exist_ok=True)
    return missing


def remove_made_dirs(made: list[Path]) -> None:
    """Remove what :func:`make_dirs` created, innermost first, where still empty."""
    for d in reversed(made):
        try:
            d.rmdir()
        except OSError:
            return


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike, synced: bool = False) -> Iterator[Path]:
    """Yield a temp path next to ``path``; on success it is fsynced and renamed over ``path``.

    The caller writes the temp path however it likes (``np.save``, ``safetensors``,
    ``onnx.save``). On any exception the temp file is removed and the target is untouched.
    ``synced=True``: the caller created the file with mode _FILE_MODE and fsynced it itself.
    """
    target = Path(path)
    folder = target.parent
    try:
        made = make_dirs(folder)
    except OSError as exc:
        raise _storage_error(target, exc) from exc
    tmp = folder / f"{TEMP_MARK}{os.getpid()}-{os.urandom(4).hex()}-{target.name}"
    try:
        yield tmp
        _hook_before_commit(target)
        if not synced:
            os.chmod(tmp, _FILE_MODE)
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.replace(tmp, target)
        fsync_dir(folder)
    except OSError as exc:
        _unlink_quietly(tmp)
        remove_made_dirs(made)
        raise _storage_error(target, exc) from exc
    except BaseException:
        _unlink_quietly(tmp)
        remove_made_dirs(made)
        raise

def _hook_before_commit(target: Path) -> None:
    """Test hook: IRISONNX_TEST_SAVE_DELAY widens the window between write and rename.

    Fault-injection tests set it so that random kills land inside a save often enough to
    prove the save is atomic. Unset in normal use, it costs one dict lookup.
    """
    delay = os.environ.get("IRISONNX_TEST_SAVE_DELAY")
    if delay:
        import time

        time.sleep(float(delay))

def _unlink_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()

def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """atomic_writer for bytes in memory, on one descriptor: write, fsync, close (a checkpoint
    save's hot path: no second open for the fsync)."""
    with atomic_writer(path, synced=True) as tmp:
        with open(tmp, "wb") as fh:  # created with _FILE_MODE (0o666 less the umask)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())

def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))

def dumps_json(obj: Any) -> str:
    """Stable JSON: sorted keys, two-space indent, trailing newline (byte-identical reruns)."""
    return json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n"

def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, dumps_json(obj))

def read_json(path: str | os.PathLike, what: str = "JSON file") -> Any:
    """Read JSON; a missing file is a usage error (2), a malformed one an artifact error (3)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise UsageError(f"{what} not found", str(p)) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"cannot read {what}", f"{p}: {exc}") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"corrupt {what}", f"{p}: {exc}") from exc

# --- user inputs: regular files of bounded size ----------------------------------------------

MAX_INPUT_MB = 256  # default cap on a CSV input (predict --input, compare --inputs, data --csv)
_max_input_bytes = MAX_INPUT_MB << 20


def set_max_input_mb(mb: int) -> None:
    """Set the cap on CSV inputs (the CLI's ``--max-input-mb``)."""
    global _max_input_bytes
    _max_input_bytes = int(mb) << 20


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "pipe (FIFO)"), (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"), (stat.S_ISSOCK, "socket")):
        if test(mode):
            return name
    return "special file"


def _not_regular(p: Path, what: str, mode: int) -> UsageError:
    if stat.S_ISDIR(mode):
        return UsageError(f"{what} is a folder", str(p), "give a file")
    return UsageError(f"{what} is not a regular file", f"{p} is a {_kind(mode)}", "give a file on disk: pipes and devices can block or never end")


def check_regular_file(path: str | os.PathLike, what: str) -> Path:
    """``path`` if it is a regular file (after symlinks); else UsageError (exit 2)."""
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise UsageError(f"{what} not found", str(p)) from None
    except OSError as exc:
        raise StorageError(f"cannot read {p}", exc.strerror or str(exc)) from None
    if not stat.S_ISREG(st.st_mode):
        raise _not_regular(p, what, st.st_mode)
    return p


def read_input_file(path: str | os.PathLike, what: str) -> bytes:
    """The bytes of a user's text input (CSV): a regular file, at most ``--max-input-mb``
    (default MAX_INPUT_MB). Opened without blocking and checked on the open descriptor, so a
    FIFO cannot hang the read and /dev/zero cannot fill memory. Refusals are exit 2."""
    p = Path(path)
    limit = _max_input_bytes
    try:
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise UsageError(f"{what} not found", str(p)) from None
    except IsADirectoryError:
        raise UsageError(f"{what} is a folder", str(p), "give a file") from None
    except OSError as exc:
        raise StorageError(f"cannot read {p}", exc.strerror or str(exc)) from None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _not_regular(p, what, st.st_mode)
        data = fh.read(min(st.st_size, limit) + 1)
    if len(data) > limit:
        raise UsageError(f"{what} is too large", f"{p}: {max(st.st_size, len(data)) / 2**20:,.1f} MiB, over the {limit >> 20:,} MiB limit", "raise the limit with --max-input-mb N")
    return data


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()

def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()

def remove_stale_temp_files(folder: str | os.PathLike, recursive: bool = True) -> list[Path]:
    """Delete temp files left behind by a killed save. Returns what was removed."""
    root = Path(folder)
    if not root.is_dir():
        return []
    pattern = f"**/{TEMP_MARK}*" if recursive else f"{TEMP_MARK}*"
    removed = []
    for p in root.glob(pattern):
        if p.is_file():
            _unlink_quietly(p)
            removed.append(p)
    return removed

class Manifest:
    """``manifest.json`` of a run: sha256 and size of every file, plus named sections.

    Paths are stored relative to the run folder with forward slashes.
    """

    def __init__(self, root: str | os.PathLike, data: dict[str, Any] | None = None) -> None:
        self.root = Path(root)
        self.data: dict[str, Any] = data or {"format": "irisonnx-manifest/1", "files": {}}
        self.data.setdefault("files", {})

    @property
    def path(self) -> Path:
        return self.root / MANIFEST_NAME

    @classmethod
    def load(cls, root: str | os.PathLike) -> "Manifest":
        root = Path(root)
        path = root / MANIFEST_NAME
        if not path.exists():
            return cls(root)
        data = read_json(path, "manifest")
        if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
            raise ArtifactError("corrupt manifest", f"{path}: no 'files' table")
        for rel, e in data["files"].items():  # a malformed entry was an AttributeError (exit 70) later
            if not (isinstance(e, dict) and isinstance(e.get("sha256"), str) and isinstance(e.get("size"), int)):
                raise ArtifactError("corrupt manifest", f"{path}: the entry of {rel!r} lacks a sha256 or size")
        for key, section in data.items():
            if key not in ("format", "files") and not isinstance(section, dict):
                raise ArtifactError("corrupt manifest", f"{path}: section {key!r} is not a JSON object")
        return cls(root, data)

    @property
    def files(self) -> dict[str, dict[str, Any]]:
        return self.data["files"]

    def _rel(self, path: str | os.PathLike) -> str:
        """The manifest key of ``path``: relative to the root, forward slashes.

        Accepts a path relative to the root (``checkpoints/x``), or one that names the root
        the way the root was given (``artifacts/runs/iris/x`` when the root is the relative
        ``artifacts/runs/iris``; ``/abs/run/x`` when it is absolute). Callers build paths as
        ``run_dir / name``, so a relative run folder must not be prefixed twice.
        """
        p = Path(path)
        if p.is_absolute():
            root = self.root.resolve()
            p = p.relative_to(root) if p.is_relative_to(root) else p.resolve().relative_to(root)
        elif not self.root.is_absolute() and self.root != Path(".") and p.is_relative_to(self.root):
            p = p.relative_to(self.root)
        return p.as_posix()

    def record(self, paths: Iterable[str | os.PathLike], **extra: Any) -> None:
        """Hash the given files (relative to the root or absolute inside it) into the table."""
        for p in paths:
            rel = self._rel(p)
            full = self.root / rel
            self.files[rel] = {"sha256": sha256_file(full), "size": full.stat().st_size, **extra}

    def record_digest(self, path: str | os.PathLike, sha256: str, size: int) -> None:
        """List a file this process just wrote from bytes it hashed (no re-read)."""
        self.files[self._rel(path)] = {"sha256": sha256, "size": size}

    def forget(self, paths: Iterable[str | os.PathLike]) -> None:
        for p in paths:
            self.files.pop(self._rel(p), None)

    def entry(self, path: str | os.PathLike) -> dict[str, Any] | None:
        return self.files.get(self._rel(path))

    def verify(self, path: str | os.PathLike, what: str = "file") -> str:
        """Check a file against its manifest entry; return its sha256.

        Missing file: UsageError (exit 2). Not listed, or sha256/size differ: ArtifactError (3).
        """
        try:
            return self._verify(path, what)
        except (UsageError, ArtifactError) as exc:
            from irisonnx.runlock import busy_error

            busy = busy_error(self.root)  # another process is writing the run: not corrupt, mid-write
            if busy is not None:
                raise busy from exc
            raise

    def _verify(self, path: str | os.PathLike, what: str) -> str:
        rel = self._rel(path)
        full = self.root / rel
        if not full.exists():
            raise UsageError(f"{what} missing", str(full))
        entry = self.files.get(rel)
        if entry is None:
            raise ArtifactError(f"{what} not in the manifest", str(full), "it was not written by irisonnx or the run is incomplete")
        digest = sha256_file(full)
        if digest != entry.get("sha256"):
            raise ArtifactError(
                f"{what} is corrupt or was modified",
                f"{full}: sha256 {digest[:12]}… differs from the manifest's {str(entry.get('sha256'))[:12]}…",
                "re-create it (train/export again) or restore it from a backup",
            )
        return digest

    def save(self) -> None:
        atomic_write_json(self.path, self.data)

