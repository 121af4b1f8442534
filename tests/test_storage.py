"""Crash-safe writes, temp-file clean-up and the manifest (irisonnx/storage.py)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from irisonnx import storage
from irisonnx.errors import EXIT_UNAVAILABLE, ArtifactError, StorageError, UsageError
from irisonnx.storage import TEMP_MARK, Manifest, atomic_write_bytes, atomic_write_json, atomic_writer, remove_stale_temp_files


def _temp_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob(f"{TEMP_MARK}*"))


def test_atomic_write_replaces_content(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "f.bin"
    atomic_write_bytes(target, b"one")
    atomic_write_bytes(target, b"two")
    assert target.read_bytes() == b"two"
    assert _temp_files(tmp_path) == []


def test_writer_that_raises_keeps_previous_file_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "f.bin"
    atomic_write_bytes(target, b"good")
    with pytest.raises(RuntimeError, match="half-way"):
        with atomic_writer(target) as tmp:
            tmp.write_bytes(b"partial")
            raise RuntimeError("writer died half-way")
    assert target.read_bytes() == b"good"
    assert _temp_files(tmp_path) == []


def test_keyboard_interrupt_inside_writer_keeps_previous_file(tmp_path: Path) -> None:
    target = tmp_path / "f.json"
    atomic_write_json(target, {"a": 1})
    before = target.read_bytes()
    with pytest.raises(KeyboardInterrupt):
        with atomic_writer(target) as tmp:
            tmp.write_bytes(b"{")
            raise KeyboardInterrupt
    assert target.read_bytes() == before
    assert _temp_files(tmp_path) == []


def test_disk_full_on_rename_is_storage_error_exit_4(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "f.bin"
    atomic_write_bytes(target, b"good")

    def full(src, dst):  # noqa: ANN001 - os.replace's signature
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(storage.os, "replace", full)
    with pytest.raises(StorageError, match="No space left on device.*free some disk space") as info:
        atomic_write_bytes(target, b"new content that does not fit")
    assert info.value.exit_code == EXIT_UNAVAILABLE == 4
    assert str(target) in str(info.value)
    monkeypatch.undo()
    assert target.read_bytes() == b"good"
    assert _temp_files(tmp_path) == []


def test_permission_denied_while_writing_is_storage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # As root a read-only folder does not stop writes, so the refusal is simulated.
    target = tmp_path / "f.bin"
    atomic_write_bytes(target, b"good")
    def refuse(path, *a, **kw):  # noqa: ANN001
        if TEMP_MARK in os.fspath(path):
            raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))
        return open(path, *a, **kw)

    monkeypatch.setattr(storage, "open", refuse, raising=False)  # the temp file's creation
    with pytest.raises(StorageError, match="Permission denied.*permissions") as info:
        atomic_write_bytes(target, b"new")
    assert info.value.exit_code == 4
    monkeypatch.undo()
    assert target.read_bytes() == b"good"
    assert _temp_files(tmp_path) == []


def test_folder_that_cannot_be_created_is_storage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_bytes(b"x")
    with pytest.raises(StorageError, match="cannot write"):
        atomic_write_bytes(blocker / "inside" / "f.bin", b"x")


def test_written_files_get_the_normal_mode(tmp_path: Path) -> None:
    target = tmp_path / "f.bin"
    with atomic_writer(target) as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT, 0o600)  # as safetensors does
        os.close(fd)
    assert target.stat().st_mode & 0o777 == storage._FILE_MODE


def test_remove_stale_temp_files(tmp_path: Path) -> None:
    (tmp_path / "checkpoints").mkdir()
    stale = [tmp_path / f"{TEMP_MARK}123-ab-manifest.json", tmp_path / "checkpoints" / f"{TEMP_MARK}9-cd-epoch-0005.safetensors"]
    keep = [tmp_path / "manifest.json", tmp_path / "checkpoints" / "epoch-0005.safetensors"]
    for p in stale + keep:
        p.write_bytes(b"x")
    removed = remove_stale_temp_files(tmp_path)
    assert sorted(removed) == sorted(stale)
    assert all(not p.exists() for p in stale)
    assert all(p.exists() for p in keep)
    assert remove_stale_temp_files(tmp_path / "missing") == []


def test_remove_stale_temp_files_non_recursive(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    top, deep = tmp_path / f"{TEMP_MARK}1-x", tmp_path / "sub" / f"{TEMP_MARK}2-y"
    top.write_bytes(b"x")
    deep.write_bytes(b"y")
    assert remove_stale_temp_files(tmp_path, recursive=False) == [top]
    assert deep.exists()


def test_json_is_stable_and_refuses_nan(tmp_path: Path) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    atomic_write_json(a, {"b": 1, "a": [1.5, 2]})
    atomic_write_json(b, {"a": [1.5, 2], "b": 1})
    assert a.read_bytes() == b.read_bytes()
    assert a.read_text().endswith("\n")
    with pytest.raises(ValueError):
        atomic_write_json(a, {"x": float("nan")})
    assert b'"b": 1' in a.read_bytes()  # previous file intact


def test_read_json_missing_is_usage_malformed_is_artifact(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not found"):
        storage.read_json(tmp_path / "nope.json", "thing")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ArtifactError, match="corrupt thing"):
        storage.read_json(bad, "thing")


def _manifest_with_file(root: Path) -> tuple[Manifest, Path]:
    f = root / "checkpoints" / "a.bin"
    atomic_write_bytes(f, b"payload")
    m = Manifest(root)
    m.record([f])
    m.save()
    return Manifest.load(root), f


def test_manifest_records_relative_keys_and_verifies(tmp_path: Path) -> None:
    m, f = _manifest_with_file(tmp_path)
    assert list(m.files) == ["checkpoints/a.bin"]
    assert m.files["checkpoints/a.bin"]["size"] == len(b"payload")
    assert m.verify(f) == storage.sha256_bytes(b"payload")
    assert m.verify("checkpoints/a.bin") == storage.sha256_bytes(b"payload")


def test_manifest_verify_missing_file_is_usage_error(tmp_path: Path) -> None:
    m, f = _manifest_with_file(tmp_path)
    f.unlink()
    with pytest.raises(UsageError, match=r"weights missing: .*a\.bin"):
        m.verify(f, "weights")


def test_manifest_verify_modified_file_is_artifact_error(tmp_path: Path) -> None:
    m, f = _manifest_with_file(tmp_path)
    f.write_bytes(b"paylaod")
    with pytest.raises(ArtifactError, match="corrupt or was modified.*differs from the manifest"):
        m.verify(f)


def test_manifest_verify_unlisted_file_is_artifact_error(tmp_path: Path) -> None:
    m, _ = _manifest_with_file(tmp_path)
    (tmp_path / "extra.bin").write_bytes(b"?")
    with pytest.raises(ArtifactError, match="not in the manifest"):
        m.verify(tmp_path / "extra.bin")


def test_manifest_forget_and_corrupt_manifest(tmp_path: Path) -> None:
    m, f = _manifest_with_file(tmp_path)
    m.forget([f])
    m.save()
    assert Manifest.load(tmp_path).files == {}
    (tmp_path / "manifest.json").write_text('{"format": "x"}')
    with pytest.raises(ArtifactError, match="no 'files' table"):
        Manifest.load(tmp_path)


def test_manifest_with_relative_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Regression: with a relative run folder (the CLI default artifacts/runs/<name>),
    # run_dir / "config.json" used to be keyed with the run prefix twice over.
    monkeypatch.chdir(tmp_path)
    root = Path("artifacts") / "runs" / "iris"
    atomic_write_bytes(root / "config.json", b"{}")
    m = Manifest(root)
    m.record([root / "config.json"])
    m.save()
    assert list(Manifest.load(root).files) == ["config.json"]
    assert Manifest.load(root).verify(root / "config.json")
    assert Manifest.load(root).verify((root / "config.json").resolve())
