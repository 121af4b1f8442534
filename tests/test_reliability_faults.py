"""Faults: kill ``irisonnx train`` anywhere (SIGKILL, SIGINT), fill the disk, take away write
permission during a save. Whatever happens, nothing is lost: the previous checkpoint stays
intact, no temp file survives the next start, the manifest never lies, and resuming ends
bit-identical to a run that was never interrupted.

The SIGKILL and SIGINT harness uses a fork server (tests/reliability_zygote.py): every kill
point is a real ``irisonnx train`` process, forked from one that has done the imports.
IRISONNX_KILL_POINTS=200 (or IRISONNX_SLOW=1) runs 200 kill points instead of 24.
"""

from __future__ import annotations

import errno
import os
import random
import re
import signal
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from irisonnx.training.checkpoint import load_checkpoint
from irisonnx.config import ModelConfig, TrainConfig
from irisonnx.storage import TEMP_MARK, Manifest, sha256_file
from irisonnx.training.train import train
from onnx_helpers import cli, one_error_line
from reliability_helpers import Zygote, assert_manifest_matches, assert_newest_checkpoint_loads, kill_points, sandbox, sized, snapshot, temp_files, train_argv
from reliability_zygote import OUTSIDE_MAIN

MODEL = ModelConfig(n_features=4, n_classes=3, hidden=(16,))
EPOCHS = 12
SAVE_DELAY = "0.01"  # seconds each atomic write waits between its write and its rename


@pytest.fixture(scope="module")
def zygote() -> Any:
    """One fork server for the module, in a private mount namespace and without root's
    permission override where this machine allows (see reliability_helpers.sandbox)."""
    z = Zygote(sandbox())
    yield z
    z.close()


@pytest.fixture(scope="module")
def reference(zygote: Zygote, iris, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    """One uninterrupted run through the same entry point: the oracle, and its duration."""
    ref = tmp_path_factory.mktemp("kill-ref") / "run"
    r = zygote.run(train_argv(iris.dir, ref, EPOCHS), env={"IRISONNX_TEST_SAVE_DELAY": SAVE_DELAY})
    assert r["exit"] == 0, r
    return ref, r["elapsed"]


# .irisonnx.lock: the run lock a killed writer leaves (its flock died with it; the next writer removes the file).
_RUN_FILE = re.compile(r"^(\.irisonnx\.lock|config\.json|manifest\.json|metrics\.json|model\.safetensors|checkpoints/epoch-\d{4,}\.safetensors|(checkpoints/)?" + re.escape(TEMP_MARK) + r".*)$")


def _saving(name: str, pid: int) -> str:
    """What a temp file left by process ``pid`` was about to become: checkpoint, manifest, ..."""
    target = name[len(f"{TEMP_MARK}{pid}-") :].split("-", 1)[1]
    return "checkpoint" if target.startswith("epoch-") else target


def _inode(p: Path) -> int | None:
    try:
        return p.stat().st_ino
    except FileNotFoundError:
        return None


def _assert_same_result(run: Path, ref: Path) -> None:
    assert (run / "model.safetensors").read_bytes() == (ref / "model.safetensors").read_bytes()
    assert (run / "metrics.json").read_bytes() == (ref / "metrics.json").read_bytes()


def _assert_finished(run: Path, ref: Path) -> None:
    assert temp_files(run) == set()
    assert_manifest_matches(run, exact=True)
    _assert_same_result(run, ref)


def test_sigkill_anywhere_loses_nothing(zygote: Zygote, reference: tuple[Path, float], iris, tmp_path: Path) -> None:
    """SIGKILL a real ``irisonnx train`` at seeded random instants (every fourth one just
    after a checkpoint's temp file appears, so some surely land inside a save), check the
    invariants after every kill, resume, and compare every finished run with the oracle."""
    ref, duration = reference
    n_kills = kill_points()
    env = {"IRISONNX_TEST_SAVE_DELAY": SAVE_DELAY}
    rng = random.Random(20261128)
    inside: Counter[str] = Counter()
    kills = finished = cleaned = 0
    run = tmp_path / "run-0"
    while kills < n_kills:
        before_temps = temp_files(run)
        before_config = _inode(run / "config.json")
        if kills % 4 == 3:
            r = zygote.run(train_argv(iris.dir, run, EPOCHS), env=env, when=(run / "checkpoints", f"{TEMP_MARK}*epoch-*", rng.uniform(0, 0.005)))
        else:
            r = zygote.run(train_argv(iris.dir, run, EPOCHS), env=env, after=rng.uniform(0, duration))
        started = _inode(run / "config.json") not in (None, before_config)  # the child rewrote config.json
        if started or r["exit"] == 0:
            # The next start removes what an earlier kill left (and only then writes config.json).
            assert not any(p.exists() for p in before_temps), before_temps
            cleaned += len(before_temps)
        if r["exit"] == 0:
            _assert_finished(run, ref)
            finished += 1
            run = tmp_path / f"run-{finished}"
            continue
        assert r["signal"] == signal.SIGKILL, r
        kills += 1
        left = [p for p in temp_files(run) if p.name.startswith(f"{TEMP_MARK}{r['pid']}-")]
        for p in left:
            inside[_saving(p.name, r["pid"])] += 1
        assert len(left) <= 1
        strays = [rel for rel in snapshot(run) if not _RUN_FILE.match(rel)]
        assert strays == [], strays  # a killed writer must leave nothing but our own temp file
        assert_newest_checkpoint_loads(run)
        assert_manifest_matches(run, exact=False)
    # Finish the last run: it must end like the oracle.
    r = zygote.run(train_argv(iris.dir, run, EPOCHS), env=env)
    assert r["exit"] == 0
    _assert_finished(run, ref)
    finished += 1
    n_inside = sum(inside.values())
    print(f"\nSIGKILL: {kills} kill points, {n_inside} inside a save ({dict(inside)}), {cleaned} leftover temp files removed by the next start, {finished} runs finished bit-identical")
    assert inside["checkpoint"] >= 1, inside


def test_sigint_exits_130_and_resumes_bit_identical(zygote: Zygote, reference: tuple[Path, float], iris, tmp_path: Path) -> None:
    """Ctrl-C at random instants (every third one inside a checkpoint save): exit 130 with
    one message, the interrupted save abandoned cleanly (no temp file left at all), the
    newest checkpoint loads, and every run resumes to the oracle's bytes."""
    ref, duration = reference
    env = {"IRISONNX_TEST_SAVE_DELAY": SAVE_DELAY}
    rng = random.Random(130)
    err = tmp_path / "stderr.txt"
    n_interrupts = sized(6, 50)
    interrupts = finished = 0
    run = tmp_path / "run-0"
    while interrupts < n_interrupts:
        if interrupts % 3 == 2:
            r = zygote.run(train_argv(iris.dir, run, EPOCHS), env=env, stderr=err, sig=signal.SIGINT, when=(run / "checkpoints", f"{TEMP_MARK}*epoch-*", rng.uniform(0, 0.005)))
        else:
            r = zygote.run(train_argv(iris.dir, run, EPOCHS), env=env, stderr=err, sig=signal.SIGINT, after=rng.uniform(0, duration))
        if r["exit"] == OUTSIDE_MAIN:
            # The signal landed in the fork server's child before irisonnx's main started (an
            # "after" of a few microseconds) or after it returned: nothing of the CLI's to check.
            continue
        if r["exit"] == 0:
            _assert_finished(run, ref)
            finished += 1
            run = tmp_path / f"run-{finished}"
            continue
        # What a shell reports as $?: 130 from sys.exit(130), or 128+2 when the process ends by
        # SIGINT itself. The second happened once in ~30 CI runs after the one-line message was
        # printed (cause not yet found, noted for follow-up); both are "exit 130" to a user.
        code = r["exit"] if r["exit"] is not None else 128 + (r["signal"] or 0)
        assert code == 130, (r, err.read_text())
        # One message line; click puts a newline first, so that it does not follow the "^C".
        assert err.read_text().strip("\n") == "irisonnx: interrupted; finished files are intact and a re-run resumes"
        interrupts += 1
        assert temp_files(run) == set()
        assert_newest_checkpoint_loads(run)
        assert_manifest_matches(run, exact=False)
    r = zygote.run(train_argv(iris.dir, run, EPOCHS), env=env)
    assert r["exit"] == 0
    _assert_finished(run, ref)
    print(f"\nSIGINT: {interrupts} interrupts, each exit 130 with no temp file left, {finished + 1} runs resumed bit-identical")


# --- disk full and permission denied, simulated -------------------------------------------------


def _write_failure(monkeypatch: pytest.MonkeyPatch, name: str, code: int) -> None:
    """irisonnx's writes of ``name`` (its temp file) fail half way through, as a full disk or
    a revoked permission makes them: json files (storage) and safetensors (checkpoint)."""
    import builtins

    from irisonnx import storage
    from irisonnx.training import checkpoint

    class Half:
        def __init__(self, fh: Any) -> None:
            self.fh = fh

        def write(self, data: bytes) -> int:
            self.fh.write(data[: len(data) // 2])
            raise OSError(code, os.strerror(code))

        def __enter__(self) -> "Half":
            return self

        def __exit__(self, *exc: Any) -> None:
            self.fh.close()

    def fake_open(path: Any, mode: str = "r", *a: Any, **kw: Any) -> Any:
        fh = builtins.open(path, mode, *a, **kw)
        return Half(fh) if "w" in mode and Path(path).name.endswith(name) and Path(path).name.startswith(TEMP_MARK) else fh

    for module in (storage, checkpoint):
        monkeypatch.setattr(module, "open", fake_open, raising=False)


def _rename_failure(monkeypatch: pytest.MonkeyPatch, name: str, code: int) -> None:
    """The rename that commits ``name`` fails (a read-only folder, a full directory)."""
    from irisonnx import storage

    real = os.replace

    def replace(src: Any, dst: Any) -> None:
        if Path(dst).name == name:
            raise OSError(code, os.strerror(code), str(dst))
        real(src, dst)

    monkeypatch.setattr(storage.os, "replace", replace)


@pytest.mark.parametrize(
    "where, how, code, survivor",
    [
        ("epoch-0010.safetensors", _write_failure, errno.ENOSPC, "epoch-0005"),
        ("model.safetensors", _write_failure, errno.EACCES, "epoch-0010"),
        ("manifest.json", _write_failure, errno.ENOSPC, "epoch-0005"),
        ("epoch-0010.safetensors", _rename_failure, errno.EACCES, "epoch-0005"),
        ("metrics.json", _write_failure, errno.EROFS, "epoch-0010"),
    ],
    ids=["checkpoint-disk-full", "weights-permission", "manifest-disk-full", "checkpoint-rename-permission", "metrics-read-only"],
)
def test_failed_save_exits_4_and_keeps_the_previous_checkpoint(tmp_path: Path, iris, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch, where: str, how: Any, code: int, survivor: str) -> None:
    run, ref = tmp_path / "run", tmp_path / "ref"
    argv = train_argv(iris.dir, run, 10, every=5, keep=3)
    train(iris, MODEL, TrainConfig(epochs=5, checkpoint_every=5), run)
    if where == "manifest.json":
        # Fail the manifest save that records the epoch-10 checkpoint (not the start-up ones).
        real = Manifest.save
        calls = {"n": 0}

        def save(self: Manifest) -> None:
            calls["n"] += 1
            if calls["n"] == 2:
                how(monkeypatch, where, code)
            real(self)

        monkeypatch.setattr(Manifest, "save", save)
    else:
        how(monkeypatch, where, code)
    rc, out, err = cli(capsys, *argv)
    monkeypatch.undo()
    line = one_error_line(err)
    assert rc == 4, err
    assert os.strerror(code) in line and ("free some disk space" in line or "check the folder's permissions" in line), line
    assert temp_files(run) == set()
    assert_manifest_matches(run, exact=False)
    # The checkpoint before the failure is listed, intact and loads; whatever is newest loads.
    kept = f"checkpoints/{survivor}.safetensors"
    assert Manifest.load(run).files[kept]["sha256"] == sha256_file(run / kept)
    assert load_checkpoint(run / kept).epoch == int(survivor[-4:])
    assert assert_newest_checkpoint_loads(run) is not None

    rc, _, err = cli(capsys, *argv)
    assert rc == 0, err
    train(iris, MODEL, TrainConfig(epochs=10, checkpoint_every=5), ref)
    _assert_finished(run, ref)


# --- disk full and permission denied, for real ---------------------------------------------------


def _fill(folder: Path, leave: int) -> Path:
    """Fill the file system of ``folder`` up to ``leave`` free bytes with a ballast file."""
    st = os.statvfs(folder)
    free = st.f_bavail * st.f_frsize
    ballast = folder / "ballast"
    with open(ballast, "wb") as fh:
        fh.write(b"\0" * max(0, free - leave))
    return ballast


def test_real_disk_full_on_a_tiny_tmpfs(zygote: Zygote, tmp_path: Path, iris) -> None:
    """A 1 MiB tmpfs that only the fork server sees, filled until the epoch-10 checkpoint
    cannot be written: exit 4 with the disk-full hint, the epoch-5 checkpoint intact, no
    temp file, and after freeing space the run resumes to the uninterrupted result."""
    if not zygote.own_mounts:
        pytest.skip("cannot mount a tmpfs here (needs root or user namespaces)")
    mnt = tmp_path / "tmpfs"
    mnt.mkdir()
    r = zygote.sh(f"mount -t tmpfs -o size=1m tmpfs '{mnt}'")
    assert r["rc"] == 0, r
    try:
        z = zygote
        run = mnt / "run"
        argv = train_argv(iris.dir, run, 10, every=5, keep=3)
        assert z.run(train_argv(iris.dir, run, 5, every=5, keep=3))["exit"] == 0
        seen = z.path(run)
        ckpt = seen / "checkpoints" / "epoch-0005.safetensors"
        # Room for config.json and the manifest (a page each), not for a ~34 KB checkpoint.
        ballast = _fill(z.path(mnt), leave=4 * 4096)
        err = tmp_path / "stderr.txt"
        r = z.run(argv, stderr=err)
        text = err.read_text()
        assert r["exit"] == 4, (r, text)
        assert text.startswith("irisonnx: error: cannot write ") and "No space left on device; free some disk space" in one_error_line(text)
        assert temp_files(seen) == set()
        assert_manifest_matches(seen, exact=False)
        assert assert_newest_checkpoint_loads(seen) == 5
        assert Manifest.load(seen).files["checkpoints/epoch-0005.safetensors"]["sha256"] == sha256_file(ckpt)
        ballast.unlink()
        assert z.run(argv)["exit"] == 0
        ref = tmp_path / "ref"
        train(iris, MODEL, TrainConfig(epochs=10, checkpoint_every=5), ref)
        _assert_finished(seen, ref)
    finally:
        zygote.sh(f"umount '{mnt}'")


def test_real_permission_denied_on_the_checkpoint_folder(zygote: Zygote, tmp_path: Path, iris) -> None:
    """checkpoints/ made read-only after epoch 5: exit 4 with the permissions hint, nothing
    lost; writable again, the run resumes to the uninterrupted result."""
    if not zygote.permission_bits_apply():
        pytest.skip("permission bits do not apply to the fork server (root without setpriv)")
    z = zygote
    run = tmp_path / "run"
    ckpts = run / "checkpoints"
    try:
        argv = train_argv(iris.dir, run, 10, every=5, keep=3)
        assert z.run(train_argv(iris.dir, run, 5, every=5, keep=3))["exit"] == 0
        before = snapshot(run)
        ckpts.chmod(0o555)
        err = tmp_path / "stderr.txt"
        r = z.run(argv, stderr=err)
        ckpts.chmod(0o755)
        text = err.read_text()
        assert r["exit"] == 4, (r, text)
        assert "Permission denied; check the folder's permissions" in one_error_line(text)
        assert temp_files(run) == set()
        assert_manifest_matches(run, exact=False)
        assert snapshot(run)["checkpoints/epoch-0005.safetensors"] == before["checkpoints/epoch-0005.safetensors"]
        assert assert_newest_checkpoint_loads(run) == 5
        assert z.run(argv)["exit"] == 0
        ref = tmp_path / "ref"
        train(iris, MODEL, TrainConfig(epochs=10, checkpoint_every=5), ref)
        _assert_finished(run, ref)
    finally:
        if ckpts.exists():
            ckpts.chmod(0o755)


# --- every write path on a full disk and on a read-only file system, for real ----------------------


def _tree(folder: Path) -> set[str]:
    """Every file and folder under ``folder`` (the ballast excepted), relative."""
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.name != "ballast"}


# command -> argv, given (mount point, outside folder with the inputs); "run" is copied into
# the mount first where the command writes into an existing run.
_WRITERS: dict[str, Any] = {
    "compare-save-io": lambda m, o: ["compare", str(o / "exported" / "model.onnx"), "--runtimes", "ort-cpu,reference", "--inputs", "random:20000", "--save-io", str(m / "golden"), "-q"],
    "predict-output": lambda m, o: ["predict", str(o / "exported"), "--input", str(o / "iris.csv"), "--output", str(m / "preds.json")],
    "train": lambda m, o: train_argv(o / "data", m / "newrun", 5, every=5, keep=3),
    "export": lambda m, o: ["export", str(m / "run")],
    "edge": lambda m, o: ["edge", str(o / "exported"), "--out", str(m / "edge"), "--variants", "fp32,fp32-opt", "--bench-rounds", "0", "--random-rows", "50"],
    "report": lambda m, o: ["report", str(m / "run")],
    "data": lambda m, o: ["data", "--csv", str(o / "iris.csv"), "--target", "species", "--name", "flowers", "--datastore", str(m / "ds")],
}


@pytest.fixture(scope="module")
def outside(tmp_path_factory: pytest.TempPathFactory, tiny_run: Path, iris) -> Path:
    """Inputs that live outside the small file system: an exported run, a CSV, a dataset."""
    import shutil

    from onnx_helpers import exported_run

    o = tmp_path_factory.mktemp("outside")
    shutil.copytree(exported_run(tmp_path_factory, tiny_run)[0], o / "exported")
    shutil.copytree(iris.dir, o / "data")
    (o / "iris.csv").write_bytes((Path(__file__).resolve().parent.parent / "datastore" / "raw" / "iris.csv").read_bytes())
    return o


@pytest.mark.parametrize("fault", ["disk-full", "read-only"])
@pytest.mark.parametrize("writer", list(_WRITERS))
def test_every_writer_exits_4_with_one_line_and_leaves_nothing(zygote: Zygote, tmp_path: Path, tiny_run: Path, outside: Path, writer: str, fault: str) -> None:
    """On a 1 MiB tmpfs that is full (ENOSPC) or mounted read-only (EROFS): exit 4, one line
    naming the cause, and the file system exactly as before: no temp file, no half file, no
    new folder. compare --save-io was SIGBUS (exit 135, nothing printed) through a memory map."""
    import shutil

    if not zygote.own_mounts:
        pytest.skip("cannot mount a tmpfs here (needs root or user namespaces)")
    mnt = tmp_path / "tmpfs"
    mnt.mkdir()
    assert zygote.sh(f"mount -t tmpfs -o size=1m tmpfs '{mnt}'")["rc"] == 0
    try:
        seen = zygote.path(mnt)
        shutil.copytree(tiny_run, seen / "run")
        before = _tree(seen)
        if fault == "disk-full":
            # compare keeps room for the first chunks: the memory map died of SIGBUS there
            _fill(seen, leave=64 * 1024 if writer == "compare-save-io" else 0)
        else:
            assert zygote.sh(f"mount -o remount,ro '{mnt}'")["rc"] == 0
        err = tmp_path / "stderr.txt"
        r = zygote.run(_WRITERS[writer](mnt, outside), stderr=err)
        text = err.read_text()
        assert r["exit"] == 4, (r, text)
        line = one_error_line(text)
        assert os.strerror(errno.ENOSPC if fault == "disk-full" else errno.EROFS) in line, line
        assert _tree(seen) == before
    finally:
        zygote.sh(f"umount '{mnt}'")


# --- SIGTERM and SIGHUP end like Ctrl-C ------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_sigterm_and_sighup_inside_a_save_exit_128_plus_n_and_leave_no_temp_file(zygote: Zygote, reference: tuple[Path, float], iris, tmp_path: Path, sig: int) -> None:
    """The signal lands inside a checkpoint save (the temp file exists): exit 128+N (143,
    129) with one line, the save abandoned cleanly, and the run resumes to the oracle's bytes.
    Before, SIGTERM killed the process where it stood and left the temp file."""
    ref, _ = reference
    env = {"IRISONNX_TEST_SAVE_DELAY": SAVE_DELAY}
    run, err = tmp_path / "run", tmp_path / "stderr.txt"
    r = zygote.run(train_argv(iris.dir, run, EPOCHS), env=env, stderr=err, sig=sig, when=(run / "checkpoints", f"{TEMP_MARK}*epoch-*", 0.002))
    assert r["sent"] and r["exit"] == 128 + sig, (r, err.read_text())
    assert err.read_text() == f"irisonnx: interrupted by {signal.Signals(sig).name}; finished files are intact and a re-run resumes\n"
    assert temp_files(run) == set()
    assert_newest_checkpoint_loads(run)
    assert_manifest_matches(run, exact=False)
    assert zygote.run(train_argv(iris.dir, run, EPOCHS), env=env)["exit"] == 0
    _assert_finished(run, ref)


def test_sigterm_during_compare_save_io_exits_143_and_leaves_nothing(zygote: Zygote, tmp_path: Path, outside: Path) -> None:
    """SIGTERM while compare streams a golden set: exit 143, one line, and no golden folder,
    temp file or half array left."""
    gold, err = tmp_path / "golden", tmp_path / "stderr.txt"
    argv = ["compare", str(outside / "exported" / "model.onnx"), "--runtimes", "ort-cpu,ort-cpu:O0", "--inputs", "random:3000000", "--batch-size", "1000", "--save-io", str(gold), "-q"]
    r = zygote.run(argv, stderr=err, sig=signal.SIGTERM, when=(gold, f"{TEMP_MARK}*", 0.05))
    assert r["sent"] and r["exit"] == 143, (r, err.read_text())
    assert err.read_text() == "irisonnx: interrupted by SIGTERM; finished files are intact and a re-run resumes\n"
    assert not gold.exists(), sorted(gold.rglob("*"))
