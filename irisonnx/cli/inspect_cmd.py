from __future__ import annotations

from typing import Any

import click

from irisonnx.cli import echo_json


@click.command("inspect")
@click.argument("model", metavar="MODEL_OR_RUN", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print everything as one JSON document.")
def command(model: str, as_json: bool) -> None:
    """Show any ONNX model: signature, opsets, operators, parameters, checksum and metadata.

    MODEL_OR_RUN is an .onnx file or a run folder (its model.onnx). Any well-formed model is
    shown, whatever its inputs and outputs: each with its type and shape (symbolic dims by
    name, ? when unknown; a non-tensor output such as skl2onnx's ZipMap by its type,
    seq(map(int64,float32))), the opsets it declares, operators and their counts, initializer
    bytes, external data files, metadata, and whether it is an irisonnx model or a classifier.
    Long lists (inputs, outputs, operators, metadata keys) are shortened here; --json has
    them all, with inputs and outputs as lists of {name, dtype, shape}.

    The model is loaded the same careful way predict loads it (size limit, no external data
    outside its folder, onnx.checker, an irisonnx model's signature vs its metadata), so a
    model inspect accepts is one predict can run. Needs only onnx; never imports torch or
    onnxruntime.

    \b
    Examples:
      irisonnx inspect artifacts/runs/iris
      irisonnx inspect artifacts/runs/iris/model.onnx --json
    """
    from irisonnx.modelfile.describe import describe
    from irisonnx.modelfile.onnx_io import resolve_model

    # inspect is how one looks at a model that failed its parity check, so it is allowed here.
    info = resolve_model(model, allow_unvalidated=True)
    d = describe(info)
    if as_json:
        echo_json(d)
        return
    _render(d)


# Text view only (--json lists everything): at most this many lines of inputs, outputs or
# metadata keys, and this many operator types, before "... N more".
_MAX_LINES = 20
_MAX_OPS = 16
_MAX_VALUE = 1000  # characters of one metadata value or doc string (irisonnx's own are shown whole)


def _shape(t: dict[str, Any]) -> str:
    from irisonnx.modelfile.signature import TensorSpec

    if not TensorSpec(t["name"], t["dtype"], tuple(t["shape"])).is_tensor:
        return f"{t['name']}  {t['dtype']}"  # seq(map(int64,float32)): no shape to show
    return f"{t['name']}  {t['dtype']} [" + ", ".join("?" if s is None else str(s) for s in t["shape"]) + "]"


def _kind(d: dict[str, Any]) -> str:
    if d["irisonnx_model"]:
        return "irisonnx model" + (", classifier" if d["classifier"] else "")
    if d["classifier"]:
        return "not an irisonnx model; a classifier by its signature (one float32 [batch, features] input, float32 [batch, classes] output)"
    return "not an irisonnx model, not a classifier: predict --input FILE.npz runs it (arrays by input name)"


def _render(d: dict[str, Any]) -> None:
    import json

    from irisonnx.modelfile.signature import shorten

    click.echo(f"model     {d['path']}")
    click.echo(f"  file      {d['size']:,} bytes, sha256 {d['sha256']}" + (" (+ external data)" if d["external_data"] else ""))
    twice = sorted({o["domain"] for o in d["opset_declarations"] if sum(p["domain"] == o["domain"] for p in d["opset_declarations"]) > 1})
    click.echo(f"  onnx      IR {d['ir_version']}, producer {d['producer'] or '?'}, opsets " + ", ".join(f"{k} {v}" for k, v in d["opset_imports"].items()) + (f" ({', '.join(twice)} declared more than once)" if twice else ""))
    for what, items in (("input", d["inputs"]), ("output", d["outputs"])):
        for t in items[:_MAX_LINES]:
            click.echo(f"  {what:<9} {_shape(t)}")
        if len(items) > _MAX_LINES:
            click.echo(f"  {what:<9} … {len(items) - _MAX_LINES} more {what}s (inspect --json lists them all)")
    ops = [f"{op} x{n}" for op, n in d["operators"].items()]
    click.echo(f"  nodes     {d['n_nodes']}: " + shorten(ops, _MAX_OPS).replace(" more)", " more operator types)"))
    click.echo(f"  params    {d['n_parameters']:,} in {d['n_initializers']} initializers ({d['initializer_bytes']:,} bytes)")
    if d["external_data_files"]:
        click.echo("  data      external data " + shorten([f"{loc} ({n:,} bytes)" for loc, n in d["external_data_files"].items()]))
    click.echo(f"  kind      {_kind(d)}")
    if "manifest" in d:
        status = {True: "validated", False: "FAILED its parity check"}.get(d["manifest"].get("validated"), "listed")
        click.echo(f"  manifest  sha256 matches the run's manifest; {status}")
    if "validation" in d:
        v = d["validation"]
        groups = v.get("groups", {})
        elem = [g["max_abs_err"] for g in groups.values() if g.get("tolerance") == "elementwise"]
        scaled = [g["max_abs_err"] for g in groups.values() if g.get("tolerance") == "row-scaled"]
        errs = f"max abs err {max(elem):.3g}" if elem else f"max abs err {v.get('max_abs_err', 0):.3g}"
        if scaled:
            errs += f" ({max(scaled):.3g} on the +-1e3..1e6 rows, row-scaled)"
        verdict = "passed" if v.get("validated") else "FAILED"
        click.echo(f"  parity    {verdict}: {v.get('exporter')} opset {v.get('opset')}, {v.get('n_rows')} rows vs torch, {errs}, max rel err {v.get('max_rel_err', 0):.3g}; atol {v.get('atol')}, rtol {v.get('rtol')}")
    if d["classifier"]:
        if not d["irisonnx_metadata"]:
            click.echo("  metadata  none from irisonnx (names below are placeholders)")
        units = d["feature_units"]
        click.echo("  features  " + shorten((f"{f} ({units[f]})" if f in units else f for f in d["feature_names"]), 64))
        click.echo("  classes   " + shorten(d["class_names"], 64))
    shown = {"class_names", "feature_names", "feature_units"} if d["classifier"] else set()
    rest = [(k, v) for k, v in d["metadata"].items() if k not in shown]
    if not d["classifier"] and not rest:
        click.echo("  metadata  none")
    for k, v in rest[:_MAX_LINES]:
        text = v if isinstance(v, str) else json.dumps(v, sort_keys=True)
        if len(text) > _MAX_VALUE:
            text = text[:_MAX_VALUE] + f"… ({len(text):,} characters)"
        click.echo(f"  {k:<20} {text}")
    if len(rest) > _MAX_LINES:
        click.echo(f"  … {len(rest) - _MAX_LINES} more metadata keys (inspect --json lists them all)")
    if d["doc_string"]:
        doc = d["doc_string"]
        click.echo(f"  doc       {doc[:_MAX_VALUE] + '…' if len(doc) > _MAX_VALUE else doc}")
