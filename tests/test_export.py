"""`irisonnx export RUN`: both exporters, one self-contained file, metadata inside, the
checker, and a parity check against torch that fails loudly (irisonnx/export/export.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import run_cli
from irisonnx.errors import ArtifactError, CheckFailed, UsageError
from irisonnx.export.export import OPSET_RANGES, export_run
from irisonnx.modelfile.onnx_io import load_model_safely, resolve_model
from irisonnx.runtimes.ort_engine import Predictor
from irisonnx.storage import TEMP_MARK, sha256_file
from onnx_helpers import cli, copy_run, exported_run, one_error_line, torch_logits, within

EXPORTERS = ("dynamo", "torchscript")


@pytest.fixture(params=EXPORTERS)
def exported(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, tiny_run: Path) -> tuple[Path, object]:
    """A run exported with probabilities and label, by each exporter (once per session)."""
    return exported_run(tmp_path_factory, tiny_run, request.param, probabilities=True, label=True)


def test_export_writes_one_validated_file_and_records_it(exported: tuple[Path, object]) -> None:
    run, res = exported
    model = run / "model.onnx"
    assert res.path == model and res.validated
    # One self-contained file: no external data and nothing beside it.
    assert not [p.name for p in run.iterdir() if p.name.endswith(".data") or p.name.startswith(TEMP_MARK)]
    info = load_model_safely(model)
    assert not info.has_external_data
    manifest = json.loads((run / "manifest.json").read_text())
    entry = manifest["files"]["model.onnx"]
    assert entry["sha256"] == sha256_file(model) == res.sha256 and entry["size"] == model.stat().st_size
    assert entry["validated"] is True
    exp = manifest["export"]
    assert exp["validated"] is True and exp["exporter"] == res.exporter and exp["opset"] == 18 and exp["path"] == "model.onnx"
    assert exp["atol"] == 1e-5 and exp["rtol"] == 1e-5 and exp["n_rows"] == res.parity.n_rows
    assert exp["groups"]["test"]["rows"] == 30 and exp["groups"]["dataset"]["rows"] == 150


def test_parity_covers_every_group_and_both_batch_modes(exported: tuple[Path, object]) -> None:
    _, res = exported
    rep = res.parity
    assert set(rep.groups) == {"test", "dataset", "random_within", "random_beyond", "edge", "large"}
    assert rep.batch_modes == ["all-at-once", "batch-1"]  # every row also went through alone
    assert set(rep.outputs) == {"logits", "probabilities"} and rep.label_mismatches == 0
    for g in ("test", "dataset", "random_within", "edge"):
        assert rep.by_group[g].max_abs_err < 1e-5, g  # a few float32 ulps
    assert 0 < rep.max_tolerance_ratio <= 1


def test_signature_has_a_symbolic_batch_and_the_asked_outputs(exported: tuple[Path, object]) -> None:
    run, _ = exported
    info = load_model_safely(run / "model.onnx")
    assert [(i.name, i.dtype, i.shape) for i in info.inputs] == [("features", "float32", ("batch", 4))]
    assert [(o.name, o.dtype, o.shape) for o in info.outputs] == [
        ("logits", "float32", ("batch", 3)),
        ("probabilities", "float32", ("batch", 3)),
        ("label", "int64", ("batch",)),
    ]
    assert info.opset_imports["ai.onnx"] == 18


def test_metadata_round_trip(exported: tuple[Path, object], iris) -> None:
    run, res = exported
    info = load_model_safely(run / "model.onnx")
    meta = info.parsed_metadata()
    config = json.loads((run / "config.json").read_text())
    assert info.has_irisonnx_metadata
    assert info.class_names == iris.class_names == ["setosa", "versicolor", "virginica"]
    assert info.feature_names == iris.feature_names
    assert info.feature_units == {"sepal_length": "cm", "sepal_width": "cm", "petal_length": "cm", "petal_width": "cm"}
    assert meta["weights_sha256"] == sha256_file(run / "model.safetensors")
    assert meta["data_sha256"] == config["data"]["sha256"] == iris.sha256
    assert meta["training_config"]["model"] == config["model"] and meta["training_config"]["train"] == config["train"]
    assert meta["exporter"] == res.exporter and meta["opset"] == "18" and meta["n_features"] == "4" and meta["n_classes"] == "3"
    import onnx
    import torch

    assert meta["torch_version"] == torch.__version__ and meta["onnx_version"] == onnx.__version__ and meta["irisonnx_version"]
    assert "iris" in info.proto.doc_string and "setosa, versicolor, virginica" in info.proto.doc_string


@pytest.mark.parametrize("n", [1, 257, 100_000])
def test_dynamic_batch_matches_torch(exported: tuple[Path, object], n: int) -> None:
    """Batch 1, just past the cached-binding size, and 100,000 rows (7 chunks of 16K)."""
    run, _ = exported
    rng = np.random.default_rng(n)
    x = rng.uniform([4.3, 2.0, 1.0, 0.1], [7.9, 4.4, 6.9, 2.5], size=(n, 4)).astype(np.float32)
    pred = Predictor(run)
    out = pred.run(x)
    ref = torch_logits(run, x)
    assert out["logits"].shape == (n, 3) and out["probabilities"].shape == (n, 3) and out["label"].shape == (n,)
    assert within(out["logits"], ref).all()
    assert (out["label"] == ref.argmax(1)).mean() > 0.999  # near-ties may flip; never more
    np.testing.assert_allclose(out["probabilities"].sum(1), 1.0, atol=1e-6)


def test_both_exporters_agree(tmp_path_factory: pytest.TempPathFactory, tiny_run: Path, iris) -> None:
    a = Predictor(exported_run(tmp_path_factory, tiny_run, "dynamo", True, True)[0]).predict_logits(iris.features)
    b = Predictor(exported_run(tmp_path_factory, tiny_run, "torchscript", True, True)[0]).predict_logits(iris.features)
    assert within(a, b).all()


def test_unvalidated_export_is_kept_recorded_and_refused(tmp_path: Path, tiny_run: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """A parity failure is exit 1, never a warning: file kept, manifest says validated false,
    predict RUN refuses it (exit 3), inspect still shows it."""
    import irisonnx.export.export as export_mod

    run = copy_run(tiny_run, tmp_path / "run")
    real = export_mod._torch_outputs

    def off_by_a_bit(wrapped, x, names):  # torch disagreeing by 1e-3 stands in for a broken export
        out = real(wrapped, x, names)
        out["logits"] = out["logits"] + np.float32(1e-3)
        return out

    monkeypatch.setattr(export_mod, "_torch_outputs", off_by_a_bit)
    with pytest.raises(CheckFailed, match=r"disagrees with torch: max abs err 0\.001\d*, max rel err \S+ in test, dataset, random_within") as exc:
        export_run(run, exporter="torchscript")
    assert exc.value.exit_code == 1 and not exc.value.result.validated
    assert (run / "model.onnx").exists()
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["files"]["model.onnx"]["validated"] is False and manifest["export"]["validated"] is False
    with pytest.raises(ArtifactError, match="failed its parity check"):
        resolve_model(run)
    code, _, err = cli(capsys, "predict", str(run), "--values", "5.1,3.5,1.4,0.2")
    assert code == 3 and "failed its parity check" in one_error_line(err)
    code, out, _ = cli(capsys, "inspect", str(run))
    assert code == 0 and "FAILED its parity check" in out


def test_cli_failure_prints_the_report_then_one_error_line(tmp_path: Path, tiny_run: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    import irisonnx.export.export as export_mod

    run = copy_run(tiny_run, tmp_path / "run")
    real = export_mod._torch_outputs
    monkeypatch.setattr(export_mod, "_torch_outputs", lambda w, x, n: {**real(w, x, n), "logits": real(w, x, n)["logits"] * 1.01})
    code, out, err = cli(capsys, "export", str(run), "--exporter", "torchscript", "--json")
    assert code == 1
    doc = json.loads(out)
    assert doc["validated"] is False and doc["parity"]["outputs"]["logits"]["n_bad"] > 0
    assert "disagrees with torch" in one_error_line(err)


@pytest.mark.parametrize(
    ("exporter", "opset", "match"),
    [
        ("dynamo", 17, r"opset 17 is not supported by the dynamo exporter: the allowed range is 18\.\.23"),
        ("dynamo", 24, r"allowed range is 18\.\.23"),
        ("torchscript", 21, r"allowed range is 9\.\.20"),
        ("torchscript", 8, r"allowed range is 9\.\.20"),
    ],
)
def test_unsupported_opset_is_refused_before_exporting(tiny_run: Path, exporter: str, opset: int, match: str) -> None:
    with pytest.raises(UsageError, match=match) as exc:
        export_run(tiny_run, exporter=exporter, opset=opset)
    assert exc.value.exit_code == 2
    assert not (tiny_run / "model.onnx").exists()


def test_bad_arguments_exit_2(tiny_run: Path, tmp_path: Path, capsys) -> None:
    with pytest.raises(UsageError, match="unknown exporter: 'onnxmlir'; choose one of dynamo, torchscript"):
        export_run(tiny_run, exporter="onnxmlir")
    with pytest.raises(UsageError, match="bad atol"):
        export_run(tiny_run, atol=-1)
    with pytest.raises(UsageError, match=r"must be an \.onnx file"):
        export_run(tiny_run, out=tmp_path / "model.bin")
    with pytest.raises(UsageError, match="run folder not found"):
        export_run(tmp_path / "nope")
    code, _, err = cli(capsys, "export", str(tiny_run), "--opset", "30")
    assert code == 2 and "allowed range is 18..23" in one_error_line(err)
    assert OPSET_RANGES["dynamo"][0] == 18


def test_other_opsets_and_an_out_path_outside_the_run(tmp_path: Path, tiny_run: Path) -> None:
    run = copy_run(tiny_run, tmp_path / "run")
    out = tmp_path / "elsewhere" / "iris-op13.onnx"
    before = (run / "manifest.json").read_bytes()
    res = export_run(run, out=out, exporter="torchscript", opset=13)
    assert res.validated and load_model_safely(out).opset_imports["ai.onnx"] == 13
    # Exported elsewhere, the run is untouched: no file listed, no export record rewritten
    # (a rewritten record once made the pipeline replace the run's own model.onnx).
    assert (run / "manifest.json").read_bytes() == before
    assert "export" not in json.loads(before)


def test_checker_failure_leaves_the_previous_model_untouched(tmp_path: Path, tiny_run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import irisonnx.export.export as export_mod

    run = copy_run(tiny_run, tmp_path / "run")
    export_run(run, exporter="torchscript")
    before = (run / "model.onnx").read_bytes()
    real = export_mod._export_proto

    def broken(*args, **kwargs):
        proto = real(*args, **kwargs)
        proto.graph.node[0].op_type = "NoSuchOp"
        return proto

    monkeypatch.setattr(export_mod, "_export_proto", broken)
    with pytest.raises(ArtifactError, match=r"fails onnx.checker \(full_check\)"):
        export_run(run, exporter="torchscript")
    assert (run / "model.onnx").read_bytes() == before
    assert not list(run.glob(f"{TEMP_MARK}*"))


def test_cli_export_json_is_the_only_output(tmp_path: Path, tiny_run: Path) -> None:
    """A fresh process: the dynamo exporter's warnings and logs must not reach stdout/stderr."""
    run = copy_run(tiny_run, tmp_path / "run")
    r = run_cli("export", str(run), "--with-probabilities", "--json")
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    doc = json.loads(r.stdout)
    assert doc["validated"] is True and doc["exporter"] == "dynamo" and doc["outputs"] == ["logits", "probabilities"]
    assert doc["export_seconds"] > 0 and doc["parity"]["n_rows"] == sum(doc["parity"]["groups"].values())
    assert sorted(p.name for p in run.glob("*.onnx*")) == ["model.onnx"]


def test_cli_export_text(tmp_path: Path, tiny_run: Path, capsys) -> None:
    run = copy_run(tiny_run, tmp_path / "run")
    code, out, err = cli(capsys, "export", str(run), "--exporter", "torchscript", "--with-label")
    assert code == 0 and err == ""
    assert f"exported {run / 'model.onnx'}" in out and "torchscript exporter, opset 18" in out
    assert "onnx.checker full_check passed" in out and "PASS" in out
    assert "large" in out and "row-scaled" in out and "output label: 0 rows disagree" in out


def test_export_needs_a_trained_run(tmp_path: Path, tiny_run: Path) -> None:
    run = copy_run(tiny_run, tmp_path / "run")
    (run / "model.safetensors").write_bytes(b"x" + (run / "model.safetensors").read_bytes()[1:])
    with pytest.raises(ArtifactError, match="weights file is corrupt or was modified"):
        export_run(run, exporter="torchscript")
    shutil.rmtree(run / "checkpoints")
    (run / "model.safetensors").unlink()
    with pytest.raises(UsageError, match="weights file missing"):
        export_run(run, exporter="torchscript")


@pytest.mark.parametrize("exporter", ["dynamo", "torchscript"])
def test_the_model_carries_no_path_of_the_machine_that_built_it(tmp_path_factory: pytest.TempPathFactory, tiny_run: Path, exporter: str) -> None:
    """The dynamo exporter stores a Python stack trace per node, with absolute source paths:
    a shipped model would carry its builder's file system, and its bytes would change with
    the checkout folder. Export strips them; the path-free node metadata stays."""
    import onnx

    import irisonnx

    run = exported_run(tmp_path_factory, tiny_run, exporter)[0]
    blob = (run / "model.onnx").read_bytes()
    assert str(Path(irisonnx.__file__).resolve().parent).encode() not in blob
    assert str(run.resolve()).encode() not in blob and str(Path.home()).encode() + b"/" not in blob
    model = onnx.load_from_string(blob)
    keys = {m.key for n in model.graph.node for m in n.metadata_props}
    assert "pkg.torch.onnx.stack_trace" not in keys
    if exporter == "dynamo":
        assert "pkg.torch.onnx.name_scopes" in keys  # what --locate can map back to modules
