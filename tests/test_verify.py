"""`irisonnx verify RUN`: weights reloaded from disk must equal the newest checkpoint bit for
bit; corrupt files exit 3, missing ones 2, a valid but different model 1 (irisonnx/training/verify.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import run_cli
from irisonnx.training.checkpoint import load_checkpoint, save_weights
from irisonnx.errors import ArtifactError, UsageError
from irisonnx.storage import Manifest
from irisonnx.training.verify import verify_run


@pytest.fixture
def run_copy(tmp_path: Path, tiny_run: Path) -> Path:
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    return run


def _one_error_line(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("irisonnx: error: "), stderr
    assert "Traceback" not in stderr
    return lines[0]


def test_verify_passes_on_a_good_run(tiny_run: Path) -> None:
    r = run_cli("verify", str(tiny_run))
    assert r.returncode == 0, r.stderr
    assert f"verify {tiny_run} against epoch-0030.safetensors (epoch 30)" in r.stdout
    assert "parameters  6/6 tensors bit-identical" in r.stdout
    assert "outputs     150/150 rows bit-identical, argmax equal on 150/150, max abs diff 0" in r.stdout
    assert r.stdout.rstrip().endswith("PASS")


def test_verify_result_in_process(tiny_run: Path) -> None:
    res = verify_run(tiny_run)
    assert res.passed and res.checkpoint_epoch == 30
    assert [p.name for p in res.params] == ["mean", "std", "net.0.weight", "net.0.bias", "net.2.weight", "net.2.bias"]
    assert all(p.identical and p.max_abs_diff == 0.0 for p in res.params)
    assert (res.n_rows, res.n_rows_identical, res.mismatched_rows) == (150, 150, [])
    doc = res.to_dict()
    assert json.loads(json.dumps(doc))["passed"] is True


def test_flipped_byte_in_weights_exits_3(run_copy: Path) -> None:
    weights = run_copy / "model.safetensors"
    blob = bytearray(weights.read_bytes())
    blob[-5] ^= 0x10  # inside the last tensor's data
    weights.write_bytes(bytes(blob))
    r = run_cli("verify", str(run_copy))
    assert r.returncode == 3
    line = _one_error_line(r.stderr)
    assert "weights file is corrupt or was modified" in line and str(weights) in line


def test_truncated_checkpoint_exits_3(run_copy: Path) -> None:
    ck = run_copy / "checkpoints" / "epoch-0030.safetensors"
    ck.write_bytes(ck.read_bytes()[:1000])
    r = run_cli("verify", str(run_copy))
    assert r.returncode == 3
    assert "checkpoint is corrupt or was modified" in _one_error_line(r.stderr)


def test_truncated_checkpoint_not_in_manifest_is_still_refused(run_copy: Path) -> None:
    # Even when the manifest does not vouch for it, a file safetensors cannot parse is exit 3.
    ck = run_copy / "checkpoints" / "epoch-0030.safetensors"
    ck.write_bytes(ck.read_bytes()[:1000])
    with pytest.raises(ArtifactError, match="checkpoint is corrupt or not a safetensors file"):
        load_checkpoint(ck)


def test_missing_weights_exits_2_with_the_path(run_copy: Path) -> None:
    (run_copy / "model.safetensors").unlink()
    r = run_cli("verify", str(run_copy))
    assert r.returncode == 2
    assert _one_error_line(r.stderr) == f"irisonnx: error: weights file missing: {run_copy / 'model.safetensors'}"


def test_different_but_valid_weights_exit_1(run_copy: Path) -> None:
    # An older checkpoint's weights, saved properly and re-recorded in the manifest: every
    # file is intact, so only the comparison can catch it.
    older = load_checkpoint(run_copy / "checkpoints" / "epoch-0025.safetensors")
    config = json.loads((run_copy / "config.json").read_text())
    save_weights(run_copy / "model.safetensors", older.model_state, config)
    m = Manifest.load(run_copy)
    m.record([run_copy / "model.safetensors"])
    m.save()
    r = run_cli("verify", str(run_copy))
    assert r.returncode == 1
    assert "parameters  2/6 tensors bit-identical" in r.stdout  # mean and std are buffers, fixed
    assert "DIFFERS net.0.weight [16, 4]" in r.stdout
    assert r.stdout.rstrip().endswith("FAIL")
    assert _one_error_line(r.stderr) == f"irisonnx: error: verify failed: {run_copy} does not reload bit-identically"


def test_missing_run_folder_and_non_run_folder_exit_2(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="run folder not found"):
        verify_run(tmp_path / "nope")
    with pytest.raises(UsageError, match="not a run folder: .* has no config.json"):
        verify_run(tmp_path)


def test_tampered_config_is_refused(run_copy: Path) -> None:
    cfg = run_copy / "config.json"
    cfg.write_text(cfg.read_text().replace('"seed": 0', '"seed": 1'))
    with pytest.raises(ArtifactError, match="run config is corrupt or was modified") as info:
        verify_run(run_copy)
    assert info.value.exit_code == 3


def test_no_checkpoints_is_usage_error(run_copy: Path) -> None:
    shutil.rmtree(run_copy / "checkpoints")
    with pytest.raises(UsageError, match="no checkpoint to verify against"):
        verify_run(run_copy)


def test_weights_of_the_wrong_shape_are_an_artifact_error(run_copy: Path) -> None:
    import torch

    state = {k: v for k, v in load_checkpoint(run_copy / "checkpoints" / "epoch-0030.safetensors").model_state.items()}
    state["net.0.weight"] = torch.zeros(8, 4)
    save_weights(run_copy / "model.safetensors", state, {})
    m = Manifest.load(run_copy)
    m.record([run_copy / "model.safetensors"])
    m.save()
    with pytest.raises(ArtifactError, match="weights do not fit the run's model config"):
        verify_run(run_copy)
