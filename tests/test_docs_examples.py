"""The README and docs/ cannot drift from the CLI (issue 16, item 5): every `irisonnx ...` line
in their shell code blocks names a command that exists and flags it accepts, with values its
parser takes (click's own parser, strict, as a real run would do before the command body);
and every relative link and #anchor in them points at a file and heading that exist."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from conftest import ROOT
from irisonnx.cli import COMMANDS, cli

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)\s*$")
ENV = re.compile(r"^[A-Z_][A-Z0-9_]*=\S*$")
SHELL_OPS = {"|", "||", "&&", ";", "&", ">", ">>", "2>", "<"}


def shell_examples(path: Path) -> list[tuple[int, str]]:
    """(line number, command line) for every line in a non-Python fenced block that reads
    `$ irisonnx ...` or `irisonnx ...` (optionally after VAR=value prefixes)."""
    found, lang = [], None
    for no, line in enumerate(path.read_text().splitlines(), 1):
        m = FENCE.match(line.strip())
        if m:
            lang = None if lang is not None else m.group(1)
            continue
        if lang is None or lang == "python":
            continue
        s = line.strip()
        s = s[2:] if s.startswith("$ ") else s
        words = s.split()
        while words and ENV.match(words[0]):
            words.pop(0)
        if words and words[0] == "irisonnx":
            found.append((no, s))
    return found


def argv_of(line: str) -> list[str]:
    """The irisonnx arguments of one shell line: no env prefix, comment, pipe or redirect."""
    words = shlex.split(line, comments=True)
    while ENV.match(words[0]):
        words.pop(0)
    assert words[0] == "irisonnx"
    out = []
    for w in words[1:]:
        if w in SHELL_OPS:
            break
        out.append(w)
    return out


def check_parses(argv: list[str]) -> None:
    """Parse argv as `irisonnx` would, down to the subcommand's own parameters, without running
    the command: an unknown command or flag, a bad value or a missing argument raises."""
    while argv and argv[0] in ("--debug",):
        argv = argv[1:]
    assert argv, "no command"
    name, rest = argv[0], argv[1:]
    assert name in COMMANDS, f"no command {name!r}"
    cmd = cli.get_command(click.Context(cli), name)
    prog = f"irisonnx {name}"
    while isinstance(cmd, click.Group):
        assert rest and rest[0] in cmd.commands, f"{prog}: no subcommand {rest[:1]}"
        prog, cmd, rest = f"{prog} {rest[0]}", cmd.commands[rest[0]], rest[1:]
    with cmd.make_context(prog, list(rest)) as ctx:
        assert ctx.command is cmd


EXAMPLES = [pytest.param(argv_of(s), id=f"{p.relative_to(ROOT)}:{no}") for p in DOCS for no, s in shell_examples(p)]


@pytest.fixture(autouse=True)
def _keep_input_cap():
    # --max-input-mb's callback sets a process-wide cap; put the default back after each parse.
    from irisonnx.storage import set_max_input_mb

    yield
    set_max_input_mb(256)


def test_the_readme_shows_the_main_commands_and_the_reference_shows_every_command() -> None:
    readme = {argv[0] for p in EXAMPLES if p.id.startswith("README.md") for argv in [p.values[0]]}
    assert {"pipeline", "compare", "export", "edge", "serve"} <= readme, readme
    reference = {p.values[0][0] for p in EXAMPLES if p.id.startswith("docs/commands.md")}
    assert set(COMMANDS) - {"setup"} <= reference, set(COMMANDS) - reference
    text = (ROOT / "README.md").read_text()
    for name in COMMANDS:
        assert f"| `{name}` |" in text, f"the README's command table lacks {name}"
    assert len(text.splitlines()) <= 220, "the README is meant to be read in five minutes"


@pytest.mark.parametrize("argv", EXAMPLES)
def test_every_documented_command_line_parses(argv: list[str]) -> None:
    check_parses(argv)


@pytest.mark.parametrize(
    "argv,why",
    [
        (["pipeline", "--csv", "w.csv", "--targett", "class"], "No such option"),
        (["predictt", "m.onnx"], "no command"),
        (["compare", "m.onnx", "--atol"], "requires an argument"),
        (["setup", "webb"], "no subcommand"),
        (["train", "--epochs", "many"], "is not an integer"),
        (["verify"], "Missing parameter: run"),
    ],
)
def test_the_parse_check_rejects_what_the_cli_rejects(argv: list[str], why: str) -> None:
    with pytest.raises((click.UsageError, AssertionError), match=why):
        check_parses(argv)


def test_the_extractor_finds_prompted_env_prefixed_and_bare_lines(tmp_path: Path) -> None:
    md = tmp_path / "x.md"
    md.write_text(
        "irisonnx data\n```\n$ irisonnx data --csv a.csv --target y   # note\nirisonnx: error: x\n"
        "$ X=1 irisonnx train --quiet &\nirisonnx inspect m.onnx | head\n```\n```python\nirisonnx check\n```\n"
    )
    got = [argv_of(s) for _, s in shell_examples(md)]
    assert got == [["data", "--csv", "a.csv", "--target", "y"], ["train", "--quiet"], ["inspect", "m.onnx"]]


# --- links ---------------------------------------------------------------------------------------

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    out, fenced = set(), False
    for line in path.read_text().splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and line.startswith("#"):
            out.add(slug(line.lstrip("#")))
    return out


def test_slug_matches_githubs_rule() -> None:
    assert slug(" `irisonnx predict MODEL_OR_RUN`: onnxruntime only, no torch") == "irisonnx-predict-model_or_run-onnxruntime-only-no-torch"
    assert slug(" Crash safety and exact resume") == "crash-safety-and-exact-resume"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_and_anchor_resolves(doc: Path) -> None:
    bad = []
    for target in LINK.findall(doc.read_text()):
        if re.match(r"[a-z]+:", target):
            continue
        file, _, anchor = target.partition("#")
        dest = (doc.parent / file).resolve() if file else doc
        if not dest.exists():
            bad.append(f"{target}: no such file")
        elif anchor and dest.exists() and dest.suffix == ".md" and anchor not in anchors(dest):
            bad.append(f"{target}: no heading with that anchor")
    assert not bad, bad
