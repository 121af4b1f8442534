from __future__ import annotations

from typing import Any

import click

from irisonnx.cli import echo_json


@click.command("inspect")
@click.argument("model", metavar="MODEL_OR_RUN", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print everything as one JSON document.")
def command(model: str, as_json: bool) -> None:
    """Show an ONNX model: signature, opsets, operators, parameters, checksum and metadata.

    MODEL_OR_RUN is an .onnx file or a run folder (its model.onnx). The model is loaded
    the same careful way predict loads it (size limit, no external data outside its
    folder, onnx.checker, signature vs metadata), so a model inspect accepts is one
    predict can run. Needs only onnx; never imports torch or onnxruntime.

    \b
    Examples:
      irisonnx inspect artifacts/runs/iris
      irisonnx inspect artifacts/runs/iris/model.onnx --json
    """
    from irisonnx.onnx_io import describe, resolve_model

    # inspect is how one looks at a model that failed its parity check, so it is allowed here.
    info = resolve_model(model, allow_unvalidated=True)
    d = describe(info)
    if as_json:
        echo_json(d)
        return
    _render(d)


def _shape(t: dict[str, Any]) -> str:
    return f"{t['name']}  {t['dtype']} [" + ", ".join("?" if s is None else str(s) for s in t["shape"]) + "]"


def _render(d: dict[str, Any]) -> None:
    import json

    click.echo(f"model     {d['path']}")
    click.echo(f"  file      {d['size']:,} bytes, sha256 {d['sha256']}" + (" (+ external data)" if d["external_data"] else ""))
    click.echo(f"  onnx      IR {d['ir_version']}, producer {d['producer'] or '?'}, opsets " + ", ".join(f"{k} {v}" for k, v in d["opset_imports"].items()))
    for t in d["inputs"]:
        click.echo(f"  input     {_shape(t)}")
    for t in d["outputs"]:
        click.echo(f"  output    {_shape(t)}")
    click.echo(f"  nodes     {d['n_nodes']}: " + ", ".join(f"{op} x{n}" for op, n in d["operators"].items()))
    click.echo(f"  params    {d['n_parameters']:,} in {d['n_initializers']} initializers")
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
    if not d["irisonnx_metadata"]:
        click.echo("  metadata  none from irisonnx (names below are placeholders)")
    units = d["feature_units"]
    click.echo("  features  " + ", ".join(f"{f} ({units[f]})" if f in units else f for f in d["feature_names"]))
    click.echo("  classes   " + ", ".join(d["class_names"]))
    shown = {"class_names", "feature_names", "feature_units"}
    for k, v in d["metadata"].items():
        if k in shown:
            continue
        text = v if isinstance(v, str) else json.dumps(v, sort_keys=True)
        click.echo(f"  {k:<20} {text}")
    if d["doc_string"]:
        click.echo(f"  doc       {d['doc_string']}")
