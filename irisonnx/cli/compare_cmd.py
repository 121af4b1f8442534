from __future__ import annotations

import click

from irisonnx.cli import bar_width, echo_json, max_input_option, number


def _parse_tol(values: tuple[str, ...], flag: str) -> tuple[float | None, dict[str, float]]:
    """``--atol 1e-5`` sets the default; ``--atol logits=1e-4`` sets one output's."""
    default, per = None, {}
    for v in values:
        name, eq, num = v.rpartition("=")
        from irisonnx.config import LIMITS, parse_number

        try:
            f = parse_number(num)
        except ValueError:
            raise click.BadParameter(f"{v!r} is not a number or NAME=NUMBER", param_hint=flag) from None
        why = LIMITS["tolerance"].problem(f)  # negative, NaN (|a-b| <= nan is never true) or infinite (anything passes)
        if why:
            raise click.BadParameter(f"{v!r}: {num.strip()} {why}", param_hint=flag)
        if eq and not name.strip():
            raise click.BadParameter(f"{v!r} names no output", param_hint=flag)
        if eq:
            per[name.strip()] = f
        else:
            default = f
    return default, per


def _spec(text: str) -> str:
    """One runtime spec, normalised: "ort-cpu", " ort-cpu" and "ort-cpu:" are one runtime,
    so listing them together is "listed twice" (exit 2), not two runs under one name."""
    name, _, option = text.strip().partition(":")
    if not name.strip():
        return text.strip()  # ":x" names no runtime: left for run_compare to refuse (exit 2)
    return f"{name.strip()}:{option.strip()}" if option.strip() else name.strip()


@click.command("compare")
@click.argument("target", type=click.Path())
@click.option("--runtimes", help="Comma-separated runtimes: torch, ort-cpu, ort-cuda, reference, web (onnxruntime-web in headless Chromium), golden[:NAME], remote:URL (an inference server: remote:http://HOST:PORT/v2/models/NAME or remote:grpc://HOST:PORT/NAME), openvino (reads the .onnx; f32, or :bf16/:f16), executorch (the torch module as a .pte, XNNPACK; executorch:portable without it), litert (LiteRT .tflite: onnx2tf after irisonnx setup litert, else litert-torch from the torch weights); ort-* take :O0..:O3 (graph optimisation), ort-cuda also :tf32. Default: torch, ort-cpu, reference and ort-cuda where they can run.")
@click.option("--header", "headers", multiple=True, metavar="'NAME: VALUE'", help="remote: runtimes: an HTTP header (gRPC metadata) sent with every request, e.g. 'Authorization: Bearer TOKEN' (repeatable; never shown). A token in IRISONNX_REMOTE_TOKEN is sent as a bearer token.")
@click.option("--baseline", help="Runtime every other one is compared against (default: the first; golden with --load-io).")
@click.option("--model", type=click.Path(dir_okay=False), help="With a run: compare this ONNX file instead of RUN/model.onnx against the run's torch weights.")
@click.option("--module", help="FILE.py:FACTORY: your torch module (FACTORY returns an nn.Module with its weights loaded) as the torch runtime. The file is run as Python: name only code you trust.")
@click.option("--inputs", help="test (default with a run), all, random:N (default random:1000 for a bare model: probes within and far beyond the input ranges), uniform:N (inside the ranges only), FILE.npz (arrays by input name), FILE.npy (one input), FILE.csv (one 2-D numeric input), or Polygraphy's --save-inputs JSON.")
@click.option("--dim", "dims", multiple=True, metavar="NAME=SIZE", help="Size of a symbolic dimension for random:N (NAME, or INPUT:AXIS for an unnamed one); the first dimension is the rows.")
@click.option("--input-range", "input_ranges", multiple=True, metavar="NAME=LO,HI", help="Range of random values for input NAME (integers: default 0..9; floats: default 0..10 or the dataset's, with probes beyond it).")
@click.option("--seed", default=0, show_default=True, type=number("seed"), help="Seed for random:N.")
@click.option("--batch-size", default=32768, show_default=True, type=number("rows"), help="Rows per chunk; memory stays bounded for millions of rows.")
@click.option("--exact", is_flag=True, help="Bitwise equality of float bit patterns: NaN equals NaN only with the same bits; -0.0 and +0.0 differ.")
@click.option("--atol", multiple=True, help="Absolute tolerance (default 1e-5), or OUTPUT=VALUE for one output. Pass: |a-b| <= atol + rtol*|b|, b the baseline (numpy.isclose; NaN matches NaN).")
@click.option("--rtol", multiple=True, help="Relative tolerance (default 1e-5), or OUTPUT=VALUE.")
@click.option("--max-ulp", type=number("ulp"), help="Pass when within N units in the last place (from the bit patterns, sign-aware; -0.0 and +0.0 are 0 apart; NaN matches only NaN).")
@click.option("--argmax", "require_argmax", is_flag=True, help="Require 100% argmax (class) agreement; it is always reported.")
@click.option("--save-io", type=click.Path(file_okay=False), help="Write inputs and every runtime's outputs (npy + index.json) to DIR; one runtime is enough to record a golden set.")
@click.option("--save-io-format", type=click.Choice(["irisonnx", "onnx"]), default="irisonnx", show_default=True, help="onnx: the ONNX test-data layout (test_data_set_N/input_K.pb, output_K.pb: the baseline's outputs).")
@click.option("--load-io", type=click.Path(), help="Compare against a golden set (runtime 'golden'): a --save-io folder, ONNX test data (test_data_set_N/*.pb), or Polygraphy's --save-outputs JSON (with --inputs its --save-inputs JSON).")
@click.option("--locate", is_flag=True, help="On failure, re-run the worst rows with intermediates exposed and name the first diverging node.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False), help="Also write the comparison to FILE.md or FILE.html.")
@max_input_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def command(target: str, runtimes: str | None, headers: tuple[str, ...], baseline: str | None, model: str | None, module: str | None, inputs: str | None, dims: tuple[str, ...], input_ranges: tuple[str, ...], seed: int, batch_size: int, exact: bool, atol: tuple[str, ...], rtol: tuple[str, ...], max_ulp: int | None, require_argmax: bool, save_io: str | None, save_io_format: str, load_io: str | None, locate: bool, report_path: str | None, as_json: bool, quiet: bool) -> None:
    """Run the same inputs through several runtimes and prove, with numbers, they agree.

    TARGET is a run folder (torch weights + model.onnx) or an .onnx file. Each runtime is
    compared against the baseline; exit 0 when every pair passes, 1 when any fails, 2/3/4
    for usage, artifact and runtime errors. A runtime you name that cannot run exits 4;
    default runtimes that cannot run are listed as unavailable and skipped.

    \b
    Examples:
      irisonnx compare artifacts/runs/iris
      irisonnx compare artifacts/runs/iris --runtimes torch,ort-cpu:O0,ort-cpu:O3 --exact  # exits 1: torch and onnxruntime differ in the last bits
      irisonnx compare model.onnx --inputs random:1000000 --max-ulp 4
      irisonnx compare artifacts/runs/iris --model edited.onnx --locate  # exits 1: names the first node that differs
      irisonnx compare model.onnx --runtimes ort-cpu --save-io golden/
      irisonnx compare model.onnx --runtimes ort-cuda --load-io golden/
      irisonnx compare tokens.onnx --inputs random:64 --dim T=16 --input-range ids=0,999
      irisonnx compare net.onnx --module net.py:build --runtimes torch,ort-cpu,reference
      irisonnx compare model.onnx --runtimes ort-cpu --load-io test_data_set_0/
      irisonnx compare model.onnx --runtimes ort-cpu,remote:http://127.0.0.1:8000/v2/models/iris --exact
    """
    from pathlib import Path

    from irisonnx.compare.stats import Tolerance
    from irisonnx.compare.render import render_html, render_markdown, render_text
    from irisonnx.compare.runner import run_compare
    from irisonnx.errors import CheckFailed, UsageError
    from irisonnx.compare.inputs import parse_dims, parse_ranges
    from irisonnx.runtimes.remote import parse_headers
    from irisonnx.storage import atomic_write_text

    if exact and max_ulp is not None:
        raise UsageError("--exact and --max-ulp exclude each other", "pick one tolerance mode")
    if max_ulp is not None and max_ulp < 0:
        raise UsageError("bad --max-ulp", str(max_ulp), "use a non-negative integer")
    if report_path and Path(report_path).suffix.lower() not in (".md", ".html", ".htm"):
        raise UsageError("bad --report", report_path, "use a .md or .html file name")
    a_def, a_per = _parse_tol(atol, "--atol")
    r_def, r_per = _parse_tol(rtol, "--rtol")
    a0, r0 = (1e-5 if a_def is None else a_def), (1e-5 if r_def is None else r_def)
    per = {k: (a_per.get(k, a0), r_per.get(k, r0)) for k in set(a_per) | set(r_per)}
    mode = "exact" if exact else "ulp" if max_ulp is not None else "close"
    tol = Tolerance(mode=mode, atol=a0, rtol=r0, max_ulp=max_ulp or 0, per_output=per, require_argmax=require_argmax)

    bar = None
    progress = None
    if not quiet and not as_json:
        from tqdm import tqdm

        def progress(done: int, total: int) -> None:
            nonlocal bar
            if bar is None:
                if total <= batch_size:
                    return  # one chunk: nothing to show
                bar = tqdm(total=total, desc="compare", unit="row", unit_scale=True, leave=False, **bar_width())
            bar.update(done - bar.n)

    from irisonnx.guard import check_output, check_output_dir, is_run_folder
    from irisonnx.runlock import lock_if_run

    if save_io:
        check_output_dir(save_io, "--save-io", ("index.json",))
    if report_path:
        check_output(report_path, "--report")
    run_of = is_run_folder(target)
    into_run = run_of is not None and any(p and Path(p).resolve().is_relative_to(run_of.resolve()) for p in (save_io, report_path))
    lock = lock_if_run(target, when=into_run)  # a writer into the run: one at a time
    lock.__enter__()
    try:
        res = run_compare(
            target,
            runtimes=[_spec(r) for r in runtimes.split(",") if r.strip()] if runtimes else None,
            baseline=_spec(baseline) if baseline else baseline,
            model=model,
            module=module,
            inputs=inputs,
            dims=parse_dims(dims),
            input_ranges=parse_ranges(input_ranges),
            save_io_format=save_io_format,
            seed=seed,
            batch_size=batch_size,
            tolerance=tol,
            save_io=save_io,
            load_io=load_io,
            locate=locate,
            progress=progress,
            headers=parse_headers(headers),
        )
        if report_path:
            text = render_markdown(res) if report_path.lower().endswith(".md") else render_html(res)
            atomic_write_text(report_path, text)
    finally:
        if bar is not None:
            bar.close()
        lock.__exit__(None, None, None)
    if as_json:
        echo_json(res.to_dict())
    else:
        click.echo(render_text(res), nl=False)
    if not res.passed:
        failing = [p.runtime for p in res.pairs if not p.passed]
        raise CheckFailed("outputs disagree", f"{', '.join(failing)} vs {res.baseline} outside {tol.describe()}")
