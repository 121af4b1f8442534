from __future__ import annotations

import sys
from typing import Any

import click

from irisonnx.cli import echo_json, number, parse_int_list


@click.command("bench")
@click.argument("target", metavar="RUN_OR_MODEL", type=click.Path())
@click.option("--runtimes", help="Comma-separated: torch (a run's weights), ort-cpu, ort-cuda, remote:URL (an inference server), openvino (f32, or :bf16/:f16), executorch[:portable] (a run's weights as a .pte), litert (LiteRT .tflite); ort-* take :O0..:O3. Default: all that can run (asked for and unavailable exits 4).")
@click.option("--header", "headers", multiple=True, metavar="'NAME: VALUE'", help="remote: runtimes: an HTTP header (gRPC metadata) sent with every request, e.g. 'Authorization: Bearer TOKEN' (repeatable; never shown). A token in IRISONNX_REMOTE_TOKEN is sent as a bearer token.")
@click.option("--clients", default=1, show_default=True, type=number("clients"), help="remote: runtimes: also time N concurrent client threads making batch-1 calls (p50/p99 latency, requests/s). Local runtimes are unaffected.")
@click.option("--variants", help="Also time these variants of RUN/edge (comma-separated, or 'all'), each as runtime edge:NAME on the CPU Predictor, taking turns with the others.")
@click.option("--batch-sizes", help="Comma-separated batch sizes for throughput. Default 1,64,4096,65536,1000000 (--quick: 1,64,4096,65536).")
@click.option("--repeats", type=number("positive_count"), help="Timed repeats per batch size; rows/s is their median. Default 7 (--quick: 3).")
@click.option("--warmup", type=number("count"), help="Untimed calls before each measurement. Default 5 (--quick: 2).")
@click.option("--latency-calls", type=number("positive_count"), help="Single calls timed for the batch-1 percentiles. Default 2000 (--quick: 300).")
@click.option("--threads", type=number("threads"), help="Intra-op threads for onnxruntime and torch (default: each runtime's own choice).")
@click.option("--seed", default=0, show_default=True, type=number("seed"), help="Seed for the random input rows.")
@click.option("--dim", "dims", multiple=True, metavar="NAME=SIZE", help="Models that are not irisonnx classifiers: bind a symbolic dimension of the generated inputs other than the rows (repeatable), as compare's --dim.")
@click.option("--input-range", "input_ranges", multiple=True, metavar="NAME=LO,HI", help="Models that are not irisonnx classifiers: value range of an input's generated values (repeatable; default 0..10 for floats, 0..9 for integers).")
@click.option("--quick", is_flag=True, help="A few seconds in all: fewer repeats and calls, no 1M batch (used by pipeline).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
def command(target: str, runtimes: str | None, headers: tuple[str, ...], clients: int, variants: str | None, batch_sizes: str | None, repeats: int | None, warmup: int | None, latency_calls: int | None, threads: int | None, seed: int, dims: tuple[str, ...], input_ranges: tuple[str, ...], quick: bool, as_json: bool) -> None:
    """Measure batch-1 latency (p50/p90/p99) and throughput (rows/s) per runtime.

    RUN_OR_MODEL is a run folder (torch weights and model.onnx) or an .onnx file, such as an
    edge variant. ort-cpu and ort-cuda run through the same Predictor as predict (I/O binding,
    chunking); torch runs the run's weights in eager mode. The output states the CPU, the
    usable cores, the load average, library versions, threads, warm-up and repeat counts:
    other processes on the machine change the numbers, so compare runtimes within one run.

    Any ONNX model runs: a model that is not an irisonnx classifier gets generated in-range
    inputs of its own signature (floats 0..10, integers 0..9, bools both; --input-range,
    --dim), and runs through plain session.run. Batch sizes apply along the first dimension
    when every input has the same symbolic one; a model with a fixed batch is timed at that
    batch only, and the output says so.

    \b
    Examples:
      irisonnx bench artifacts/runs/iris
      irisonnx bench artifacts/runs/iris --runtimes ort-cpu --threads 1 --json
      irisonnx bench artifacts/runs/iris --runtimes ort-cpu --variants all
      irisonnx bench artifacts/runs/iris/edge/model.int8-static.onnx --batch-sizes 1,4096 --quick
      irisonnx bench cnn.onnx --batch-sizes 1,64,1024 --input-range image=0,1
      irisonnx bench tokens.onnx --dim T=32 --input-range ids=0,999
      irisonnx bench model.onnx --runtimes remote:http://127.0.0.1:8000/v2/models/iris --clients 8
    """
    from irisonnx.bench import BenchSettings, run_bench
    from irisonnx.compare.inputs import parse_dims, parse_ranges
    from irisonnx.runtimes.remote import parse_headers

    hdrs = parse_headers(headers)
    sizes = parse_int_list(batch_sizes, "--batch-sizes") if batch_sizes is not None else None
    settings = BenchSettings.make(quick=quick, batch_sizes=sizes, repeats=repeats, warmup=warmup, threads=threads, latency_calls=latency_calls, seed=seed, dims=parse_dims(dims), input_ranges=parse_ranges(input_ranges), clients=clients)
    names = [r.strip() for r in runtimes.split(",") if r.strip()] if runtimes is not None else None
    if names is not None and not names:
        from irisonnx.errors import UsageError

        raise UsageError("bad --runtimes", repr(runtimes), "give at least one runtime, e.g. ort-cpu")

    variant_names = [v.strip() for v in variants.split(",") if v.strip()] if variants is not None else None
    if variant_names is not None and not variant_names:
        from irisonnx.errors import UsageError

        raise UsageError("bad --variants", repr(variants), "name edge variants, e.g. fp32,int8-dynamic, or all")

    status = None
    if not as_json and sys.stderr.isatty():

        def status(msg: str) -> None:
            click.echo(f"\rbench: {msg:<60}", err=True, nl=False)

    from irisonnx.runlock import lock_if_run

    try:
        with lock_if_run(target):  # the weights and models must not change while timed
            res = run_bench(target, runtimes=names, variants=variant_names, settings=settings, progress=status, headers=hdrs)
    finally:
        if status is not None:
            click.echo("\r" + " " * 70 + "\r", err=True, nl=False)
    if as_json:
        echo_json(res.to_dict())
        return
    click.echo(render_text(res.to_dict()), nl=False)


def _rate(v: float) -> str:
    for unit, div in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if v >= div:
            return f"{v / div:.3g} {unit}"
    return f"{v:.3g}"


def render_text(d: dict[str, Any]) -> str:
    m, s = d["machine"], d["settings"]
    v = m["versions"]
    lines = [f"bench {d['target']}" + (f"  (model {d['model']}, sha256 {d['model_sha256'][:12]}…)" if d["model"] else "")]
    load = ", ".join(f"{x:g}" for x in m["load_average"]) if m["load_average"] else "unknown"
    lines.append(f"machine   {m['cpu']}; {m['logical_cores']} logical cores, {m['usable_cores']} usable; load average {load} (1/5/15 min) at start")
    lines.append("versions  " + ", ".join(f"{k} {val}" for k, val in v.items() if val != "not installed"))
    lines.append(f"settings  warm-up {s['warmup_calls']} calls; {s['repeats']} repeats of >= {s['min_repeat_seconds']:g} s each (median); latency over {s['latency_calls']} single calls; {s['input']}" + ("; quick" if s["quick"] else ""))
    ran = [r for r in d["runtimes"] if r["available"]]
    for r in ran:
        lines.append(f"threads   {r['runtime']}: {r['threads']}")
    if ran:
        w = max(7, *(len(r["runtime"]) for r in ran))
        one = s["batch_sizes"][0] if len(s["batch_sizes"]) == 1 and s["batch_sizes"][0] != 1 else 1
        lines += ["", f"latency at batch {one} (µs per call)", f"  {'runtime':<{w}}  {'p50':>8}  {'p90':>8}  {'p99':>8}"]
        for r in ran:
            lat = r["latency_batch1"]
            lines.append(f"  {r['runtime']:<{w}}  {lat['p50_us']:>8.1f}  {lat['p90_us']:>8.1f}  {lat['p99_us']:>8.1f}")
        sizes = s["batch_sizes"]
        cw = max(9, *(len(f"{b:,}") for b in sizes))
        lines += ["", f"throughput (rows/s, median of {s['repeats']} repeats) by batch size", f"  {'runtime':<{w}}  " + "  ".join(f"{b:>{cw},}" for b in sizes)]
        for r in ran:
            by = {p["batch_size"]: p["rows_per_s"] for p in r["throughput"]}
            lines.append(f"  {r['runtime']:<{w}}  " + "  ".join(f"{_rate(by[b]):>{cw}}" for b in sizes))
    conc = [r for r in ran if r.get("concurrent")]
    if conc:
        w = max(7, *(len(r["runtime"]) for r in conc))
        lines += ["", "concurrent clients at batch 1 (remote runtimes; µs per call)", f"  {'runtime':<{w}}  {'clients':>7}  {'p50':>8}  {'p99':>8}  {'requests/s':>10}  {'errors':>6}"]
        for r in conc:
            c = r["concurrent"]
            lines.append(f"  {r['runtime']:<{w}}  {c['clients']:>7}  {c['p50_us']:>8.1f}  {c['p99_us']:>8.1f}  {c['requests_per_s']:>10.1f}  {c['errors']:>6}")
    for r in ran:
        if r["info"].get("kind") == "remote" and r["info"].get("note"):
            lines.append(f"server    {r['runtime']}: " + ", ".join(f"{k} {v}" for k, v in r["info"].get("versions", {}).items()) + f"; {r['info']['note']}")
    for r in d["runtimes"]:
        if not r["available"]:
            lines.append(f"unavailable: {r['runtime']} ({r['reason']})")
    lines.append(f"({d['seconds']:.1f} s)")
    return "\n".join(lines) + "\n"
