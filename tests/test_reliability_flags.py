"""Bad flags, tampered configs and manifests, unbounded inputs, strict numbers (issue 15,
items 11, 12 and 16): exit 2 naming the flag with nothing created, exit 3 for a tampered
artifact, never exit 70, a hang or a multi-GB allocation."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from conftest import IRIS_CSV, run_cli
from irisonnx.config import ModelConfig, TrainConfig
from irisonnx.errors import ArtifactError, UsageError
from irisonnx.storage import Manifest
from onnx_helpers import cli, exported_run, one_error_line

# (argv after the command's target, flag the error must name). Targets need not exist: a bad
# flag is refused before anything is read or written.
BAD_FLAGS = {
    "train": [
        (["--lr", "inf"], "--lr"), (["--lr", "nan"], "--lr"), (["--lr", "0"], "--lr"),
        (["--momentum", "nan"], "--momentum"), (["--momentum", "1.5"], "--momentum"),
        (["--weight-decay", "-5"], "--weight-decay"), (["--weight-decay", "inf"], "--weight-decay"),
        (["--seed", "-1"], "--seed"), (["--seed", str(2**32)], "--seed"), (["--seed", "1_0"], "--seed"),
        (["--hidden", "100000000"], "--hidden"), (["--hidden", "16,0"], "--hidden"), (["--hidden", "１６"], "--hidden"),
        (["--epochs", "0"], "--epochs"), (["--epochs", "１２"], "--epochs"), (["--batch-size", "0"], "--batch-size"),
        (["--checkpoint-every", "0"], "--checkpoint-every"), (["--keep-checkpoints", "-1"], "--keep-checkpoints"),
    ],
    "data": [(["--seed", "-1"], "--seed"), (["--test-fraction", "nan"], "--test-fraction"), (["--test-fraction", "1"], "--test-fraction")],
    "compare RUN": [
        (["--seed", "-1"], "--seed"), (["--batch-size", "0"], "--batch-size"), (["--max-ulp", "-1"], "--max-ulp"),
        (["--atol", "inf"], "--atol"), (["--rtol", "logits=nan"], "--rtol"), (["--max-input-mb", "0"], "--max-input-mb"),
    ],
    "predict RUN": [(["--threads", "-1", "--values", "1,2,3,4"], "--threads"), (["--max-input-mb", "-3", "--values", "1,2,3,4"], "--max-input-mb")],
    "edge RUN": [
        (["--min-agreement", "-0.5"], "--min-agreement"), (["--fp16-min-agreement", "nan"], "--fp16-min-agreement"),
        (["--max-accuracy-drop", "-0.1"], "--max-accuracy-drop"), (["--fp32-opt-atol", "inf"], "--fp32-opt-atol"),
        (["--random-rows", "-1"], "--random-rows"), (["--seed", "-1"], "--seed"), (["--threads", "-1"], "--threads"), (["--bench-rounds", "-1"], "--bench-rounds"),
    ],
    "bench RUN": [
        (["--repeats", "0"], "--repeats"), (["--warmup", "-1"], "--warmup"), (["--latency-calls", "0"], "--latency-calls"),
        (["--threads", "-1"], "--threads"), (["--seed", "-1"], "--seed"), (["--batch-sizes", "1,0"], "--batch-sizes"),
    ],
    "export RUN": [(["--opset", "0"], "--opset"), (["--atol", "nan"], "--atol"), (["--rtol", "-1"], "--rtol")],
    "pipeline": [(["--epochs", "0"], "--epochs"), (["--seed", str(2**32)], "--seed"), (["--hidden", "100000000"], "--hidden")],
}
CASES = [(cmd, argv, flag) for cmd, cases in BAD_FLAGS.items() for argv, flag in cases]


@pytest.mark.parametrize("cmd, argv, flag", CASES, ids=[f"{c.split()[0]}{''.join(a)}" for c, a, _ in CASES])
def test_bad_numeric_flags_exit_2_naming_the_flag_and_create_nothing(cmd: str, argv: list[str], flag: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """Before: train --lr inf, --momentum nan, --seed -1, --hidden 100000000 (after creating a
    run folder), data/compare --seed -1 ... were exit 70, or accepted."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("IRISONNX_DATASTORE", str(tmp_path / "datastore"))
    words = cmd.split()
    target = [str(tmp_path / "run")] if len(words) > 1 else []
    run_flag = ["--run", str(tmp_path / "run")] if words[0] in ("train", "pipeline") else []
    rc, _, err = cli(capsys, words[0], *target, *run_flag, *argv)
    line = one_error_line(err)
    assert rc == 2 and flag in line, line
    assert list(tmp_path.iterdir()) == [], list(tmp_path.iterdir())


def test_the_library_checks_the_same_limits() -> None:
    """One table of limits: the configs the library builds refuse what the flags refuse."""
    for bad in ({"lr": float("inf")}, {"momentum": float("nan")}, {"weight_decay": -5.0}, {"seed": -1}, {"seed": 2**32}):
        with pytest.raises(UsageError):
            TrainConfig(**bad)
    for hidden in ((10**8,), (0,), (65_536, 65_536), ("16",)):
        with pytest.raises(UsageError):
            ModelConfig(n_features=4, n_classes=3, hidden=hidden)
    assert ModelConfig(n_features=4, n_classes=3, hidden=(65_536,)).hidden == (65_536,)


def _tamper(run: Path, name: str, edit) -> None:  # type: ignore[no-untyped-def]
    """Edit a run's JSON file and re-list it in the manifest (so that only the content is wrong)."""
    doc = json.loads((run / name).read_text())
    edit(doc)
    (run / name).write_text(json.dumps(doc))
    if name != "manifest.json":
        m = Manifest.load(run)
        m.record([name])
        m.save()


@pytest.mark.parametrize(
    "edit, why",
    [
        (lambda d: d["model"].update(hidden=[2147483648]), "hidden size: 2147483648"),
        (lambda d: d["model"].update(hidden="abc"), "bad hidden sizes"),
        (lambda d: d["train"].update(seed=-1), "bad seed"),
        (lambda d: d["train"].update(lr="fast"), "bad lr"),
        (lambda d: d.update(model=[4, 3]), "not a JSON object"),
    ],
    ids=["hidden-2-31", "hidden-text", "seed", "lr-text", "model-list"],
)
def test_tampered_config_json_exits_3(tiny_run: Path, tmp_path: Path, iris, capsys: pytest.CaptureFixture, edit, why: str) -> None:  # type: ignore[no-untyped-def]
    """A config.json edited to hidden [2147483648] asked torch for 32 GiB; others were exit 70."""
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    _tamper(run, "config.json", edit)
    commands = [["train", "--data", str(iris.dir), "--run", str(run), "--epochs", "35", "-q"]]
    if why not in ("bad seed", "bad lr"):  # verify reads the model config only
        commands.append(["verify", str(run)])
    for argv in commands:
        rc, _, err = cli(capsys, *argv)
        line = one_error_line(err)
        assert rc == 3 and why in line, (argv, line)


@pytest.mark.parametrize(
    "edit, command",
    [
        (lambda d: d["files"].update({"model.safetensors": ["sha", 1]}), "verify"),
        (lambda d: d["files"].update({"model.safetensors": {"size": 1}}), "verify"),
        (lambda d: d.update(export="validated"), "report"),
    ],
    ids=["entry-list", "entry-no-sha256", "section-text"],
)
def test_malformed_manifest_exits_3(tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture, edit, command: str) -> None:  # type: ignore[no-untyped-def]
    """Before: AttributeError, exit 70."""
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    _tamper(run, "manifest.json", edit)
    rc, _, err = cli(capsys, command, str(run))
    assert rc == 3 and "corrupt manifest" in one_error_line(err)
    with pytest.raises(ArtifactError):
        Manifest.load(run)


# --- inputs are regular files of bounded size ------------------------------------------------------


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory, tiny_run: Path) -> Path:
    return exported_run(tmp_path_factory, tiny_run, "dynamo", True, True)[0]


@pytest.mark.parametrize("how", ["predict-fifo", "predict-dev-zero", "compare-fifo", "data-fifo", "data-dev-zero", "model-fifo"])
def test_inputs_must_be_regular_files(full: Path, tmp_path: Path, how: str) -> None:
    """A FIFO hung for ever; /dev/zero as --input grew to 9.6 GB in 12 s. Now: exit 2 at once."""
    fifo = tmp_path / "rows.csv"
    os.mkfifo(fifo)
    src = "/dev/zero" if how.endswith("dev-zero") else str(fifo)
    argv = {
        "predict": ["predict", str(full), "--input", src],
        "compare": ["compare", str(full), "--runtimes", "ort-cpu,reference", "--inputs", src],
        "data": ["data", "--csv", src, "--target", "species", "--datastore", str(tmp_path / "ds")],
        "model": ["predict", src, "--values", "1,2,3,4"],
    }[how.split("-")[0]]
    r = run_cli(*argv, timeout=60)
    assert r.returncode == 2, r.stderr
    line = one_error_line(r.stderr)
    assert "not a regular file" in line, line


def test_csv_inputs_have_a_size_cap_with_a_flag_to_raise_it(full: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src = tmp_path / "rows.csv"
    src.write_text("5.1,3.5,1.4,0.2\n" * 140_000)  # 2.2 MiB
    for argv in (["predict", str(full), "--input", str(src)], ["compare", str(full), "--runtimes", "ort-cpu,reference", "--inputs", str(src)], ["data", "--csv", str(src), "--target", "x", "--datastore", str(tmp_path / "ds")]):
        rc, _, err = cli(capsys, *argv, "--max-input-mb", "1")
        line = one_error_line(err)
        assert rc == 2 and "is too large" in line and "over the 1 MiB limit" in line and "--max-input-mb" in line, line
    rc, out, err = cli(capsys, "predict", str(full), "--input", str(src), "--max-input-mb", "3", "--output", str(tmp_path / "p.npy"))
    assert rc == 0 and "wrote 140,000 predictions" in out, err
    assert not (tmp_path / "ds").exists()


# --- numbers are plain ASCII numbers; a finite 1e300 is not "not finite" ------------------------------


@pytest.mark.parametrize("cell", ["1_000", "１２", "٣", "1e300"])
def test_strict_numbers_in_values_and_csv(full: Path, tmp_path: Path, capsys: pytest.CaptureFixture, cell: str) -> None:
    """float() takes '1_000' and full-width digits; 1e300 was reported as 'not finite: inf'."""
    why = "too large for float32" if cell == "1e300" else "is not a number"
    rc, _, err = cli(capsys, "predict", str(full), "--values", f"{cell},3.5,1.4,0.2")
    line = one_error_line(err)
    assert rc == 2 and why in line and "inf" not in line.replace("infinit", ""), line
    src = tmp_path / "rows.csv"
    src.write_text(f"5.1,3.5,1.4,0.2\n{cell},3.5,1.4,0.2\n", encoding="utf-8")
    rc, _, err = cli(capsys, "predict", str(full), "--input", str(src))
    assert rc == 2 and "line 2" in one_error_line(err), err
    if cell != "1e300":
        data_csv = tmp_path / "d.csv"
        data_csv.write_text("a,b,species\n1,2,x\n3,4,x\n5,6,y\n7,8,y\n" + f"{cell},1,y\n", encoding="utf-8")
        rc, _, err = cli(capsys, "data", "--csv", str(data_csv), "--target", "species", "--datastore", str(tmp_path / "ds"))
        assert rc == 2 and "row 6, column 'a' is not a number" in one_error_line(err), err


def test_data_url_fallback_says_so(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """An unreachable --url fell back to the bundled CSV in silence."""
    (tmp_path / "raw").mkdir()
    shutil.copy(IRIS_CSV, tmp_path / "raw" / "iris.csv")
    rc, out, err = cli(capsys, "data", "--datastore", str(tmp_path), "--url", "http://127.0.0.1:9/iris.csv")
    assert rc == 0 and "dataset iris: 150 rows" in out
    assert err.startswith("irisonnx: note: could not download http://127.0.0.1:9/iris.csv") and "used the bundled copy" in err and len(err.splitlines()) == 1, err
