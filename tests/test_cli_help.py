"""The CLI shell: every registered command's --help, deferred heavy imports, one-line errors
and the exit-code contract (irisonnx/cli/__init__.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import run_cli
from irisonnx.cli import COMMANDS

HEAVY = ("torch", "onnx", "onnxruntime", "numpy")


def _modules_after(argv: list[str], extra_setup: str = "", env: dict | None = None) -> tuple[int, list[str], str, str]:
    """Run irisonnx.cli.main(argv) in a fresh interpreter; return the exit code, the heavy
    modules it left in sys.modules, stdout and stderr."""
    code = textwrap.dedent(
        f"""
        import json, sys
        {extra_setup}
        from irisonnx.cli import main
        rc = 0
        try:
            main({argv!r})
        except SystemExit as exc:
            rc = exc.code or 0
        print("@@" + json.dumps([rc, sorted(m for m in {HEAVY!r} if m in sys.modules)]), file=sys.stderr)
        """
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})})
    body, _, tail = r.stderr.rpartition("@@")
    rc, mods = json.loads(tail)
    return rc, mods, r.stdout, body


def test_top_level_help_lists_every_command_and_imports_nothing_heavy() -> None:
    rc, mods, out, err = _modules_after(["--help"])
    assert rc == 0, err
    assert mods == [], f"irisonnx --help imported {mods}"
    for name in COMMANDS:
        assert name in out
    assert "Exit codes: 0 ok; 1 a check failed" in out and "130 interrupted" in out


def test_version() -> None:
    from irisonnx import __version__

    r = run_cli("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"irisonnx, version {__version__}"


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_command_help_runs_without_torch_or_onnx(name: str) -> None:
    rc, mods, out, err = _modules_after([name, "--help"])
    assert rc == 0, err
    assert out.startswith(f"Usage: irisonnx {name} [OPTIONS]")
    assert "--help" in out
    # Click imports a subcommand's module for its help, so heavy imports must stay inside
    # the callbacks (DESIGN.md, practice 2).
    assert not {"torch", "onnx", "onnxruntime"} & set(mods), f"'irisonnx {name} --help' imported {mods}"


# --- errors: one line, no traceback, the documented exit code -------------------------------------


@pytest.mark.parametrize(
    "argv,code,start",
    [
        (["verify", "/nonexistent/run"], 2, "irisonnx: error: run folder not found: /nonexistent/run; train one with: irisonnx train"),
        (["data", "--csv", "/nonexistent.csv", "--target", "y"], 2, "irisonnx: error: CSV not found: /nonexistent.csv"),
        (["data", "--test-fraction", "1.5"], 2, "irisonnx: error: Invalid value for '--test-fraction': '1.5' must be over 0 and under 1"),
    ],
)
def test_errors_are_one_line_with_the_exit_code(argv: list[str], code: int, start: str, tmp_path: Path) -> None:
    r = run_cli(*argv, cwd=tmp_path)
    assert r.returncode == code
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(start), r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""


def test_unknown_dataset_for_train_is_one_line_exit_2(tmp_path: Path) -> None:
    r = run_cli("train", "--data", "nope", "--run", str(tmp_path / "run"), cwd=tmp_path, env={"IRISONNX_DATASTORE": str(tmp_path)})
    assert r.returncode == 2
    assert r.stderr.splitlines() == [f"irisonnx: error: dataset 'nope' not found: no {tmp_path / 'processed' / 'nope' / 'meta.json'}; create it with: irisonnx data --csv PATH --target COLUMN --name NAME"]
    assert not (tmp_path / "run").exists()


def test_bad_flag_value_exits_2() -> None:
    r = run_cli("train", "--hidden", "16,x")
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and "'16,x' is not a comma-separated list of integers" in r.stderr


def test_unknown_command_exits_2() -> None:
    r = run_cli("no-such-command")
    assert r.returncode == 2 and "Traceback" not in r.stderr


_FAKE = """
import click, errno
@click.command("boom")
@click.argument("kind")
def command(kind):
    if kind == "bug":
        raise ZeroDivisionError("division by zero")
    if kind == "disk":
        raise OSError(errno.ENOSPC, "No space left on device")
    if kind == "interrupt":
        raise KeyboardInterrupt
"""


@pytest.mark.parametrize(
    "kind,code,start",
    [
        ("bug", 70, "irisonnx: error: internal error: ZeroDivisionError: division by zero (run with --debug for the traceback)"),
        ("disk", 4, "irisonnx: error: I/O failure: [Errno 28] No space left on device"),
        ("interrupt", 130, "irisonnx: interrupted; finished files are intact and a re-run resumes"),
    ],
)
def test_unexpected_failures_map_to_documented_codes(tmp_path: Path, kind: str, code: int, start: str) -> None:
    (tmp_path / "fake_boom.py").write_text(_FAKE)
    setup = "import irisonnx.cli as c; c.COMMANDS['boom'] = ('fake_boom', 'test only')"
    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    rc, _, out, err = _modules_after(["boom", kind], setup, env)
    assert rc == code
    # Click echoes an empty line before re-raising Ctrl-C as Abort; the message is one line.
    assert [line for line in err.splitlines() if line] == [start]


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    r = run_cli("--debug", "verify", str(tmp_path / "nope"))
    assert r.returncode != 0
    assert "Traceback" in r.stderr and "UsageError: run folder not found" in r.stderr


def test_progress_bars_get_a_size_when_the_terminal_reports_none(monkeypatch) -> None:  # noqa: ANN001
    """A pty nobody sized (``script``, some CI runners) reports 0x0: tqdm then drew nothing at
    all, so the bars get 80x24 there; a real terminal keeps dynamic width; a file or pipe too."""
    import os

    import irisonnx.cli as cli_mod

    monkeypatch.setattr(cli_mod.os, "get_terminal_size", lambda fd: os.terminal_size((0, 0)))
    assert cli_mod.bar_width() == {"ncols": 80, "nrows": 24}
    monkeypatch.setattr(cli_mod.os, "get_terminal_size", lambda fd: os.terminal_size((120, 40)))
    assert cli_mod.bar_width() == {"dynamic_ncols": True}

    def not_a_tty(fd):  # noqa: ANN001, ANN202
        raise OSError(25, "Inappropriate ioctl for device")

    monkeypatch.setattr(cli_mod.os, "get_terminal_size", not_a_tty)
    assert cli_mod.bar_width() == {"dynamic_ncols": True}
