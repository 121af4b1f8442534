"""Shared by tests/test_reliability_*.py: sizes (quick by default, big with IRISONNX_SLOW=1),
the fork server that kills real ``irisonnx train`` processes, run-folder invariants, and
hostile files (pickles that leave a canary file behind when unpickled)."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any


from irisonnx.storage import TEMP_MARK, Manifest, sha256_file

HERE = Path(__file__).resolve().parent

# IRISONNX_SLOW=1: 10,000 examples per parser, 50 interrupts. Kill points: IRISONNX_KILL_POINTS.
SLOW = os.environ.get("IRISONNX_SLOW") == "1"


def sized(quick: int, slow: int) -> int:
    return slow if SLOW else quick


def kill_points() -> int:
    return int(os.environ.get("IRISONNX_KILL_POINTS") or sized(24, 200))


# --- run-folder invariants -------------------------------------------------------------------


def temp_files(folder: Path) -> set[Path]:
    return set(folder.rglob(f"{TEMP_MARK}*")) if folder.exists() else set()


def snapshot(run: Path) -> dict[str, bytes]:
    return {p.relative_to(run).as_posix(): p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}


def assert_manifest_matches(run: Path, exact: bool) -> None:
    """Every manifest entry names an existing file with that sha256 and size; with ``exact``
    the manifest lists every file of the run (but itself) and nothing else."""
    m = Manifest.load(run)
    for rel, entry in m.files.items():
        p = run / rel
        assert p.is_file(), f"manifest lists missing {rel}"
        assert sha256_file(p) == entry["sha256"] and p.stat().st_size == entry["size"], f"manifest disagrees with {rel}"
    if exact:
        on_disk = {k for k in snapshot(run) if k != "manifest.json"}
        assert on_disk == set(m.files), on_disk ^ set(m.files)


def assert_newest_checkpoint_loads(run: Path) -> int | None:
    from irisonnx.training.checkpoint import list_checkpoints, load_checkpoint

    found = list_checkpoints(run / "checkpoints")
    if not found:
        return None
    epoch, path = found[-1]
    assert load_checkpoint(path).epoch == epoch
    return epoch


def train_argv(data_dir: Path, run: Path, epochs: int, every: int = 1, keep: int = 2) -> list[str]:
    return ["train", "--data", str(data_dir), "--run", str(run), "--epochs", str(epochs), "--checkpoint-every", str(every), "--keep-checkpoints", str(keep), "--quiet"]


# --- the fork server -----------------------------------------------------------------------------


class Zygote:
    """Client of tests/reliability_zygote.py. ``prefix`` runs it under other commands:
    ``unshare`` for a private mount namespace (a tmpfs only it sees), ``setpriv`` to drop
    root's CAP_DAC_OVERRIDE (so that a read-only folder is read-only). See :func:`sandbox`."""

    def __init__(self, prefix: list[str] | None = None) -> None:
        cmd = [*(prefix or []), sys.executable, str(HERE / "reliability_zygote.py")]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")])}
        self.prefix = prefix or []
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1, env=env)
        line = self.proc.stdout.readline()  # type: ignore[union-attr]
        if not line:
            self.close()
            raise RuntimeError(f"fork server did not start: {' '.join(cmd)}")
        self.pid = json.loads(line)["ready"]

    def _ask(self, req: dict[str, Any]) -> dict[str, Any]:
        self.proc.stdin.write(json.dumps(req) + "\n")  # type: ignore[union-attr]
        self.proc.stdin.flush()  # type: ignore[union-attr]
        line = self.proc.stdout.readline()  # type: ignore[union-attr]
        assert line, "fork server died"
        return json.loads(line)

    def run(self, argv: list[str], *, env: dict[str, str] | None = None, stderr: Path | None = None, sig: int = signal.SIGKILL, after: float | None = None, when: tuple[Path, str, float] | None = None, timeout: float = 120) -> dict[str, Any]:
        """Run ``irisonnx ARGV`` in a fresh child; signal it ``after`` seconds, or ``when``
        a file matching a glob appears in a folder (plus a delay). Returns exit/signal."""
        reply = self._ask({"argv": argv, "env": env or {}, "stderr": str(stderr) if stderr else None, "signal": int(sig), "after": after, "when": [str(when[0]), when[1], when[2]] if when else None, "timeout": timeout})
        assert not reply["hung"], f"irisonnx {' '.join(argv)} hung for {timeout} s"
        return reply

    def sh(self, cmd: str) -> dict[str, Any]:
        return self._ask({"op": "sh", "cmd": cmd})

    @property
    def own_mounts(self) -> bool:
        return "unshare" in self.prefix

    def permission_bits_apply(self) -> bool:
        return self.sh('d=$(mktemp -d) && chmod 555 "$d" && (touch "$d/x" 2>/dev/null; r=$?; chmod 755 "$d"; rm -rf "$d"; exit $r)')["rc"] != 0

    def path(self, p: Path) -> Path:
        """``p`` as this server's mount namespace sees it (for a tmpfs only it has mounted)."""
        return Path(f"/proc/{self.pid}/root") / Path(p).relative_to("/")

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def sandbox() -> list[str]:
    """The prefix for the fork server: a private mount namespace where one can be had
    (``unshare -m`` as root, ``unshare -rm`` as a user with user namespaces), and, where it
    would run as root, without CAP_DAC_OVERRIDE (``setpriv``). Each part only if it works."""
    prefix: list[str] = []
    as_root = os.geteuid() == 0
    if shutil.which("unshare"):
        for flags in (["-m"], ["-rm"]):
            probe = subprocess.run(["unshare", *flags, "--", "sh", "-c", 'd=$(mktemp -d) && mount -t tmpfs -o size=64k tmpfs "$d" && umount "$d"; rmdir "$d"'], capture_output=True)
            if probe.returncode == 0:
                prefix = ["unshare", *flags, "--"]
                as_root = as_root or flags == ["-rm"]
                break
    drop = ["setpriv", "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search", "--"]
    if as_root and shutil.which("setpriv") and subprocess.run([*drop, "true"], capture_output=True).returncode == 0:
        prefix += drop
    return prefix


# --- hostile files ---------------------------------------------------------------------------------


class Canary:
    """Unpickling this calls ``open(path, "w")``: the canary file appears. A live payload."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return (open, (self.path, "w"))


def pickle_bytes(canary: Path) -> bytes:
    return pickle.dumps({"model": Canary(canary)}, protocol=2)


def torch_pickle(dst: Path, canary: Path) -> Path:
    """A ``torch.save`` .pt/.pth file (zip with data.pkl) whose unpickling creates ``canary``."""
    import torch

    torch.save({"state_dict": {"w": torch.zeros(2)}, "payload": Canary(canary)}, dst)
    return dst


def object_npy(dst: Path, canary: Path) -> Path:
    """An .npy of object dtype: loading it needs pickle, which creates ``canary``."""
    import numpy as np

    arr = np.empty((1, 4), dtype=object)
    arr[0, 0] = Canary(canary)
    np.save(dst, arr, allow_pickle=True)
    return dst


def copy_run(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst
