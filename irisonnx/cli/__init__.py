"""The click layer: flags -> config -> one library call -> rendering.

Subcommand modules are imported lazily and import nothing heavy at module level, so
``irisonnx --help`` loads neither torch nor onnx, onnxruntime or numpy.
"""

from __future__ import annotations

import importlib
import os
import sys
import warnings
from typing import Any

import click

from irisonnx import __version__
from irisonnx.errors import EXIT_INTERRUPTED, IrisOnnxError

__all__ = ["main", "cli"]

EXIT_INTERNAL = 70  # a bug in irisonnx: please report it with --debug's traceback

# name -> (module, one-line help). Adding a command is one module plus one line here.
COMMANDS: dict[str, tuple[str, str]] = {
    "data": ("irisonnx.cli.data_cmd", "Convert a CSV (bundled Iris by default) to a processed dataset."),
    "train": ("irisonnx.cli.train_cmd", "Train an MLP with crash-safe checkpoints and exact resume."),
    "verify": ("irisonnx.cli.verify_cmd", "Check saved weights reload bit-identically to the newest checkpoint."),
    "export": ("irisonnx.cli.export_cmd", "Export a run or your own torch module to one ONNX file; checker + parity check against torch."),
    "predict": ("irisonnx.cli.predict_cmd", "Classify rows with onnxruntime (CPU or CUDA, no fallback); no torch needed."),
    "inspect": ("irisonnx.cli.inspect_cmd", "Show an ONNX model's signature, operators, parameters and metadata."),
    "compare": ("irisonnx.cli.compare_cmd", "Compare runtimes on the same inputs: exact, atol/rtol or ULP, with statistics."),
    "edge": ("irisonnx.cli.edge_cmd", "Build fp32-opt, int8, fp16 and .ort variants, gate each on parity, bundle the passing ones."),
    "bench": ("irisonnx.cli.bench_cmd", "Measure batch-1 latency percentiles and throughput per runtime (torch, ort-cpu, ort-cuda)."),
    "serve": ("irisonnx.cli.serve_cmd", "Serve a run, model or edge bundle over the Open Inference Protocol (REST + gRPC, tritonclient)."),
    "report": ("irisonnx.cli.report_cmd", "Regenerate RUN/report.html (self-contained, with plots) from the run folder."),
    "pipeline": ("irisonnx.cli.pipeline_cmd", "The main job: data, train, verify, export, compare, edge, bench, report; resumable."),
    "setup": ("irisonnx.cli.setup_cmd", "Install the browser runtime's npm packages into a per-user cache (setup web)."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        return importlib.import_module(COMMANDS[name][0]).command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Short help from the table, so that listing commands imports none of them.
        with formatter.section("Commands"):
            formatter.write_dl([(n, h) for n, (_, h) in COMMANDS.items()])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="irisonnx")
@click.option("--debug", is_flag=True, envvar="IRISONNX_DEBUG", help="Show tracebacks instead of one-line errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """irisonnx: PyTorch training to edge deployment, with parity proven in numbers.

    \b
    Exit codes: 0 ok; 1 a check failed (outputs disagree, a gate not met);
    2 bad usage or bad input data; 3 corrupt, unsafe or incompatible artifact;
    4 runtime/provider unavailable or I/O failure; 70 internal error; 130 interrupted
    (Ctrl-C), 143 terminated (SIGTERM), 129 hung up (SIGHUP).
    """
    ctx.obj = {"debug": debug}


def one_line(text: str) -> str:
    """The error contract is one line: control characters that a value carried into a message
    (a CSV header cell with a newline in it) are shown escaped, as repr() would."""
    return text if text.isprintable() else "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def fail(err: BaseException, code: int) -> None:
    click.echo(f"irisonnx: error: {one_line(str(err))}", err=True)
    sys.exit(code)


def _usage_message(exc: click.ClickException) -> str:
    """Click's usage errors as one line (click prints Usage/Try/blank/Error, four lines)."""
    msg = exc.format_message()
    ctx = getattr(exc, "ctx", None)
    if isinstance(exc, click.UsageError):
        msg = msg.rstrip(".") + f"; see '{ctx.command_path if ctx else 'irisonnx'} --help'"
    return msg


class Terminated(BaseException):
    """SIGTERM or SIGHUP, raised where the main thread is, as Ctrl-C's KeyboardInterrupt is:
    every ``finally`` and ``except BaseException`` abort that cleans up after Ctrl-C runs for
    these too. Not a KeyboardInterrupt: click would turn that into Abort and print a blank line."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _on_terminate(signum: int, frame: Any) -> None:
    import signal

    for s in (signal.SIGTERM, signal.SIGHUP):  # a second one must not cut the clean-up short
        signal.signal(s, signal.SIG_IGN)
    raise Terminated(signum)


def _catch_termination() -> None:
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():  # only the main thread may set handlers
        for s in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(s, _on_terminate)


def main(argv: list[str] | None = None) -> None:
    debug = "--debug" in (argv if argv is not None else sys.argv[1:]) or bool(os.environ.get("IRISONNX_DEBUG"))
    _catch_termination()
    from irisonnx import ortlog

    ortlog.quiet_process()  # the CLI owns this process: onnxruntime's default logger stays silent
    try:
        with warnings.catch_warnings():
            if not debug:  # stderr carries one error line or nothing: no library warnings
                warnings.simplefilter("ignore")
            cli.main(args=argv, prog_name="irisonnx", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.NoArgsIsHelpError as exc:
        exc.show()  # bare ``irisonnx CMD``: the help, as click shows it
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        fail(_usage_message(exc), exc.exit_code)  # type: ignore[arg-type]
    except Terminated as exc:  # 128 + N, as a shell reports a process ended by signal N
        import signal

        click.echo(f"irisonnx: interrupted by {signal.Signals(exc.signum).name}; finished files are intact and a re-run resumes", err=True)
        sys.exit(128 + exc.signum)
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("irisonnx: interrupted; finished files are intact and a re-run resumes", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except IrisOnnxError as exc:
        if debug:
            raise
        fail(exc, exc.exit_code)
    except OSError as exc:
        if debug:
            raise
        fail(f"I/O failure: {exc}", 4)  # type: ignore[arg-type]
    except ImportError as exc:  # a module of an extra that is not installed: exit 4 naming the extra
        from irisonnx.extras import missing_module_error

        err = missing_module_error(exc)
        if debug:
            raise
        if err is not None:
            fail(err, err.exit_code)
        fail(f"internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)", EXIT_INTERNAL)  # type: ignore[arg-type]
    except Exception as exc:  # noqa: BLE001 - the one place that turns bugs into one line
        if debug:
            raise
        fail(f"internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)", EXIT_INTERNAL)  # type: ignore[arg-type]
    sys.exit(0)


def echo_json(obj: Any) -> None:
    """One JSON document on stdout and nothing else there."""
    import json

    click.echo(json.dumps(obj, indent=2, sort_keys=True, default=str))


class Number(click.ParamType):
    """A numeric flag, parsed strictly (ASCII digits: no "1_000", no "１２") and checked
    against ``irisonnx.config.LIMITS[limit]``, the one table of numeric limits the library's
    configs use too. Out of range, NaN or infinite: exit 2, naming the flag, before any work."""

    def __init__(self, limit: str) -> None:
        from irisonnx.config import LIMITS

        self.limit = limit
        self.kind = LIMITS[limit].kind
        self.name = "integer" if self.kind is int else "float"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from irisonnx.config import LIMITS, parse_int, parse_number

        v = value
        if isinstance(value, str):
            try:
                v = parse_int(value) if self.kind is int else parse_number(value)
            except ValueError:
                self.fail(f"{value!r} is not {'an integer' if self.kind is int else 'a number'}", param, ctx)
        why = LIMITS[self.limit].problem(v)
        if why:
            self.fail(f"{value!r} {why}", param, ctx)
        return v


def number(limit: str) -> Number:
    """The click type of a numeric flag: ``@click.option("--seed", type=number("seed"))``."""
    return Number(limit)


def max_input_option(f: Any) -> Any:
    """``--max-input-mb``: the cap on CSV inputs (irisonnx.storage.MAX_INPUT_MB by default)."""

    def apply(ctx: click.Context, param: click.Parameter, value: int) -> None:
        from irisonnx.storage import set_max_input_mb

        set_max_input_mb(value)

    return click.option("--max-input-mb", default=256, show_default=True, type=number("input_mb"), expose_value=False, callback=apply, help="Refuse CSV inputs larger than this many MiB (they are parsed in memory).")(f)


def parse_int_list(text: str, what: str, limit: str = "rows") -> tuple[int, ...]:
    """Comma-separated integers, each checked like :class:`Number` (``limit``)."""
    from irisonnx.config import LIMITS, parse_int

    try:
        vals = tuple(parse_int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a comma-separated list of integers", param_hint=what) from None
    if not vals:
        raise click.BadParameter("give at least one value", param_hint=what)
    for v in vals:
        why = LIMITS[limit].problem(v)
        if why:
            raise click.BadParameter(f"{v} {why}", param_hint=what)
    return vals


def bar_width() -> dict[str, Any]:
    """tqdm's size arguments. ``dynamic_ncols`` follows the terminal, but a terminal that
    reports a 0x0 size (a pty nobody sized: ``script``, some CI runners, ``docker exec -t``)
    made tqdm draw nothing at all (no row left for the bar); there it gets 80x24."""
    try:
        size = os.get_terminal_size(sys.stderr.fileno())
    except (OSError, ValueError, AttributeError):
        return {"dynamic_ncols": True}  # not a terminal (a file, a pipe): tqdm copes
    return {"dynamic_ncols": True} if size.columns > 0 and size.lines > 0 else {"ncols": 80, "nrows": 24}
