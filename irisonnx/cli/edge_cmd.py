from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from irisonnx.cli import echo_json, number
from irisonnx.edge.variants import DEFAULT, NAMED_ONLY, REGISTRY  # names only: the variant modules load when used

_VARIANTS = ",".join(DEFAULT)


@click.command("edge")
@click.argument("target", metavar="RUN_OR_MODEL", type=click.Path())
@click.option("--out", type=click.Path(file_okay=False), help="Bundle folder (default: RUN/edge). An existing folder is replaced only if it is an irisonnx edge bundle.")
@click.option("--variants", default=_VARIANTS, show_default=True, help=f"Comma-separated variants to build, from: {', '.join(REGISTRY)}; every one must pass its gate ({', '.join(n for n in REGISTRY if n in NAMED_ONLY)}: made only when named, with their runtime's package: pip install 'irisonnx[openvino]', 'irisonnx[litert]', 'irisonnx[executorch]').")
@click.option("--ort-format", is_flag=True, help="Also write each variant in ORT format (onnxruntime's convert_onnx_models_to_ort, Fixed style) plus required_operators.config for a minimal build; each .ort must match its .onnx bitwise.")
@click.option("--module", metavar="FILE.py:FACTORY", help="The torch module of a bare .onnx model (a run folder has its own), for the variants made from torch: executorch-fp32, executorch-int8. Runs FILE.py as Python: name only files you trust.")
@click.option("--data", help="Dataset (name or processed folder) for a bare .onnx file; default: the run's, or the one named in the model's metadata.")
@click.option("--min-agreement", default=0.97, show_default=True, type=number("agreement"), help="int8 gate: argmax agreement with fp32 on the test split, as a fraction.")
@click.option("--fp16-min-agreement", default=1.0, show_default=True, type=number("agreement"), help="fp16 gate: argmax agreement with fp32 on the test split (onnxruntime and float16 reference arithmetic).")
@click.option("--max-accuracy-drop", default=0.02, show_default=True, type=number("fraction"), help="int8 and fp16 gate: test accuracy at most this far below fp32's (0.02 = 2 points).")
@click.option("--fp32-opt-atol", default=1e-6, show_default=True, type=number("tolerance"), help="fp32-opt gate: max abs error vs fp32 on test and random rows (bitwise equal passes any value).")
@click.option("--calibration-method", default="minmax", show_default=True, type=click.Choice(["minmax", "entropy", "percentile"]), help="int8-static: how activation ranges are set from the training split.")
@click.option("--per-channel", is_flag=True, help="int8: one weight scale per output channel instead of per tensor.")
@click.option("--int8-weights", default="uint8", show_default=True, type=click.Choice(["uint8", "int8"]), help="int8 weight type. int8 (onnxruntime's default) saturates in the U8S8 kernels of x86 CPUs without VNNI; uint8 (U8U8) runs everywhere without it.")
@click.option("--reduce-range", is_flag=True, help="int8: 7-bit weights (another cure for U8S8 saturation, at some precision).")
@click.option("--calibration", type=click.Path(dir_okay=False), help="int8-static: calibrate on these inputs (.npz of arrays by input name; .npy for one input) instead of the training split or generated rows.")
@click.option("--dim", "dims", multiple=True, metavar="NAME=SIZE", help="Models that are not irisonnx classifiers: bind a symbolic dimension of the generated inputs (repeatable), as compare's --dim.")
@click.option("--input-range", "input_ranges", multiple=True, metavar="NAME=LO,HI", help="Models that are not irisonnx classifiers: value range of an input's generated values (repeatable; default 0..10 for floats, 0..9 for integers).")
@click.option("--int8-tol", default="0.05,0.05", show_default=True, metavar="ATOL,RTOL", help="Tolerance gate of the int8 variants for models that are not irisonnx classifiers: every float output element within |a-b| <= ATOL + RTOL*|fp32|.")
@click.option("--fp16-tol", default="0.01,0.01", show_default=True, metavar="ATOL,RTOL", help="Tolerance gate of fp16 for models that are not irisonnx classifiers (onnxruntime and float16 reference arithmetic).")
@click.option("--fp32-opt-rtol", default=1e-5, show_default=True, type=number("tolerance"), help="fp32-opt for models that are not irisonnx classifiers: rtol, with atol max(--fp32-opt-atol, 1e-5).")
@click.option("--output-tol", "output_tols", multiple=True, metavar="[VARIANT:]OUTPUT=ATOL,RTOL", help="Per-output tolerance (repeatable); without VARIANT it applies to int8 and fp16. Integer and bool outputs are always compared exactly.")
@click.option("--random-rows", default=1000, show_default=True, type=number("count"), help="Seeded random rows (inside and far beyond the training range) compared besides the test split.")
@click.option("--seed", default=0, show_default=True, type=number("seed"), help="Seed for the random rows.")
@click.option("--threads", default=1, show_default=True, type=number("threads"), help="onnxruntime intra-op threads for the checks and timings (0: onnxruntime's default).")
@click.option("--bench-rounds", default=15, show_default=True, type=number("count"), help="Timing rounds (each variant timed in turn, medians reported); 0 skips timing. With one thread the figures are CPU time of the calling thread, else wall clock.")
@click.option("--web", is_flag=True, help="Also add edge/web/: a static page that runs the fp32 model with onnxruntime-web (tried in headless Chromium, screenshot saved as edge/web/screenshot.png).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
def command(target: str, out: str | None, variants: str, ort_format: bool, module: str | None, data: str | None, min_agreement: float, fp16_min_agreement: float, max_accuracy_drop: float, fp32_opt_atol: float, calibration_method: str, per_channel: bool, int8_weights: str, reduce_range: bool, calibration: str | None, dims: tuple[str, ...], input_ranges: tuple[str, ...], int8_tol: str, fp16_tol: str, fp32_opt_rtol: float, output_tols: tuple[str, ...], random_rows: int, seed: int, threads: int, bench_rounds: int, web: bool, as_json: bool) -> None:
    """Build edge variants of an exported model, gate each on parity with fp32, and bundle
    the ones that pass with a standalone predict.py (needs only onnxruntime and numpy).

    \b
    Variants:
      fp32          the exported model, byte for byte
      fp32-opt      onnxruntime offline optimisation at ORT_ENABLE_EXTENDED (fuses Gemm+Relu
                    into com.microsoft FusedGemm; ALL would add machine-specific layouts)
      int8-dynamic  quant_pre_process + quantize_dynamic (activation scale per call)
      int8-static   quant_pre_process + quantize_static, QDQ, calibrated on the training split
      fp16          float16 weights and compute, float32 inputs and outputs kept

    \b
    Gates, against fp32 on the test split and on random rows, each run all rows at once and
    one row per call (the worse counts):
      fp32-opt      max abs error <= --fp32-opt-atol
      fp16          argmax agreement >= --fp16-min-agreement (also in float16 reference
                    arithmetic), accuracy drop <= --max-accuracy-drop
      int8-*        argmax agreement >= --min-agreement, accuracy drop <= --max-accuracy-drop
    Any other model (not an irisonnx classifier with its dataset: skl2onnx, a torch CNN,
    token ids...) is gated per output on --random-rows generated rows inside the input ranges
    (--input-range, --dim), every element of a float output within ATOL + RTOL*|fp32|
    (--int8-tol, --fp16-tol, --fp32-opt-rtol, --output-tol), integer and bool outputs equal;
    as many rows within and far beyond the ranges are reported, not gated. A variant that does
    not apply is skipped with the reason (int8 needs MatMul/Gemm/Conv; fp16 needs float ops the
    converter turns into float16), as is one a converter fails on; the bundle holds the rest.
    --web is for classifiers only (exit 2 otherwise).

    \b
    All or nothing: if any variant misses its gate, nothing is written (a previous bundle is
    left untouched), the table shows by how much, and the exit code is 1. The table also
    shows when a variant is larger or slower than fp32: on a model this small, int8 often is.

    \b
    Bundle: model.<variant>.onnx (.ort with --ort-format), labels.json, manifest.json
    (sha256, bytes, gate figures, onnxruntime version), predict.py. Exit codes: 0 written;
    1 a gate failed; 2 bad usage or data; 3 corrupt or unvalidated source model; 4 I/O.

    \b
    Examples:
      irisonnx edge artifacts/runs/iris
      irisonnx edge artifacts/runs/iris --variants fp32,int8-static --ort-format
      irisonnx edge artifacts/runs/iris --web
      irisonnx edge artifacts/runs/iris --calibration-method entropy --per-channel --json
      irisonnx edge model.onnx --data iris --out iris-edge --min-agreement 0.99
      irisonnx edge cnn.onnx --input-range image=0,1 --int8-tol 0.1,0.05
      irisonnx edge tokens.onnx --dim T=16 --calibration calib.npz
      python artifacts/runs/iris/edge/predict.py --values "5.1,3.5,1.4,0.2" --variant fp16
    """
    from irisonnx.edge.build import Gates, QuantOptions
    from irisonnx.edge.gates import parse_output_tols
    from irisonnx.errors import UsageError

    if threads < 0:
        raise UsageError("bad --threads", str(threads), "use 0 (onnxruntime's default) or a positive count")
    (int8_atol, int8_rtol), (fp16_atol, fp16_rtol) = _pair(int8_tol, "--int8-tol"), _pair(fp16_tol, "--fp16-tol")
    from irisonnx.guard import check_output, is_run_folder
    from irisonnx.runlock import lock_if_run

    if out is not None:
        check_output(out, "--out")  # never into a run's files or a processed dataset (exit 2)
    run = is_run_folder(target)
    if module is not None:
        from irisonnx.training.module import parse_module_spec

        parse_module_spec(module)  # a malformed spec or a missing file: exit 2 before any work
    with lock_if_run(target):  # one writer per run
        res, doc = _build_locked(target, out, variants, ort_format, data, calibration, dims, input_ranges, web, random_rows, seed, threads, bench_rounds, run, module,
                                 Gates(fp32_opt_atol=fp32_opt_atol, min_agreement=min_agreement, fp16_min_agreement=fp16_min_agreement, max_accuracy_drop=max_accuracy_drop, fp32_opt_rtol=fp32_opt_rtol, int8_atol=int8_atol, int8_rtol=int8_rtol, fp16_atol=fp16_atol, fp16_rtol=fp16_rtol, per_output=parse_output_tols(output_tols)),
                                 QuantOptions(calibration_method=calibration_method, per_channel=per_channel, int8_weights=int8_weights, reduce_range=reduce_range))
    _render(res, doc, as_json)


def _build_locked(target: str, out: str | None, variants: str, ort_format: bool, data: str | None, calibration: str | None, dims: tuple[str, ...], input_ranges: tuple[str, ...], web: bool, random_rows: int, seed: int, threads: int, bench_rounds: int, run: Any, module: str | None, gates: Any, quant: Any) -> tuple[Any, dict]:
    from irisonnx.edge.build import build_edge
    from irisonnx.compare.inputs import parse_dims, parse_ranges

    add_web = None
    if web:
        from irisonnx.browser.bundle import add_web_bundle as add_web

    res = build_edge(
        target,
        out,
        variants,
        ort_format=ort_format,
        gates=gates,
        quant=quant,
        data=data,
        calibration=calibration,
        dims=parse_dims(dims),
        input_ranges=parse_ranges(input_ranges),
        for_web=web,
        n_random=random_rows,
        seed=seed,
        threads=threads or None,
        bench_rounds=bench_rounds,
        before_commit=add_web,  # the page is tried before the bundle replaces the previous one
        module=module,
    )
    doc = res.to_dict()
    if run is not None and res.written and Path(res.out).resolve() == (run / "edge").resolve():
        from irisonnx.guard import note_derived

        note_derived(run, "edge")  # the bundle, with the weights it was made from
    if web and res.written:
        doc["web"] = {"screenshot": str(Path(res.out) / "web" / "screenshot.png")}
    return res, doc


def _render(res: Any, doc: dict, as_json: bool) -> None:
    from irisonnx.edge.render import render_text
    from irisonnx.errors import CheckFailed

    if as_json:
        echo_json(doc)
    else:
        click.echo(render_text(res), nl=False)
        if "web" in doc:
            click.echo(f"web bundle: {doc['web']['screenshot'].rsplit('/', 1)[0]}/index.html (tried in Chromium; screenshot {doc['web']['screenshot']})")
    if not res.passed:
        why = "; ".join(f"{v.variant}: {c.describe()}" for v in res.failed for c in v.failed_checks)
        raise CheckFailed("gate failed, bundle not written", why, "drop the variant with --variants, or change its settings or gate")


def _pair(text: str, flag: str) -> tuple[float, float]:
    """``ATOL,RTOL`` -> two finite numbers >= 0 (exit 2 otherwise)."""
    from irisonnx.config import parse_pair
    from irisonnx.errors import UsageError

    pair = parse_pair(text)
    if pair is None or min(pair) < 0:
        raise UsageError(f"bad {flag}", repr(text), "use ATOL,RTOL with finite numbers >= 0, e.g. 0.05,0.05")
    return pair
