"""Helpers shared by the export/predict/inspect tests: exported copies of the session's
tiny run (each exported once per session), in-process CLI calls, and model surgery."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

_EXPORTS: dict[tuple[str, bool, bool], tuple[Path, Any]] = {}


def exported_run(tmp_path_factory: pytest.TempPathFactory, tiny_run: Path, exporter: str = "dynamo", probabilities: bool = False, label: bool = False) -> tuple[Path, Any]:
    """(run folder, ExportResult) of a copy of ``tiny_run`` exported once per session.

    Shared: tests must not modify it (copy it with :func:`copy_run` first)."""
    key = (exporter, probabilities, label)
    if key not in _EXPORTS:
        from irisonnx.export.export import export_run

        run = tmp_path_factory.mktemp(f"exported-{exporter}-{int(probabilities)}{int(label)}") / "run"
        shutil.copytree(tiny_run, run)
        res = export_run(run, exporter=exporter, with_probabilities=probabilities, with_label=label)
        _EXPORTS[key] = (run, res)
    return _EXPORTS[key]


def copy_run(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def cli(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    """Run ``irisonnx ARGS`` in this process through the real entry point (its error
    handling and exit codes); returns (exit code, stdout, stderr)."""
    from irisonnx.cli import main

    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    out = capsys.readouterr()
    code = exc.value.code
    return (code if isinstance(code, int) else 1), out.out, out.err


def one_error_line(stderr: str, code: int | None = None) -> str:
    """The CLI's error contract: exactly one line, 'irisonnx: error: ...', no traceback."""
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("irisonnx: error: "), stderr
    assert "Traceback" not in stderr
    return lines[0]


def torch_logits(run: Path, x: np.ndarray) -> np.ndarray:
    """The run's torch model on x (rows, n_features) -> (rows, n_classes) float32."""
    import torch

    from irisonnx.training.run import Run

    model = Run.open(run).load_model()
    with torch.no_grad():
        return model(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))).numpy()


def within(a: np.ndarray, b: np.ndarray, atol: float = 1e-5, rtol: float = 1e-5) -> np.ndarray:
    """Elementwise |a - b| <= atol + rtol * |b| (b is the reference)."""
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    return np.abs(a64 - b64) <= atol + rtol * np.abs(b64)


def external_data_model(src: Path, dst_dir: Path, location: str, payload_path: Path | None = None) -> Path:
    """A copy of the model at ``src`` whose first initializer lives in external data at
    ``location`` (relative to ``dst_dir``, or absolute). The tensor's bytes are written to
    ``payload_path`` (default: where ``location`` points) unless it already exists."""
    import onnx
    from onnx import TensorProto, numpy_helper

    model = onnx.load(str(src))
    t = model.graph.initializer[0]
    blob = numpy_helper.to_array(t).tobytes()
    target = payload_path or (Path(location) if Path(location).is_absolute() else dst_dir / location)
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        target.write_bytes(blob)
    t.ClearField("raw_data")
    del t.float_data[:]
    t.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", "0"), ("length", str(len(blob)))):
        e = t.external_data.add()
        e.key, e.value = k, v
    dst_dir.mkdir(parents=True, exist_ok=True)
    out = dst_dir / "model.onnx"
    out.write_bytes(model.SerializeToString())
    return out
