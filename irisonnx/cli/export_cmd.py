from __future__ import annotations

from typing import Any

import click

from irisonnx.cli import echo_json, number


@click.command("export")
@click.argument("run", type=click.Path(), required=False)
@click.option("--module", help="FILE.py:FACTORY: export your own torch module (FACTORY returns an nn.Module with its weights loaded) instead of a run. The file is run as Python: name only code you trust.")
@click.option("--example", type=click.Path(dir_okay=False), help="With --module: a .npz with one array per forward parameter, by name (a .npy for a one-input forward).")
@click.option("--dynamic", multiple=True, metavar="NAME:AXIS=DIMNAME", help="With --module: make an input axis dynamic (repeatable). Axis 0 of every input is dynamic ('batch') unless --static.")
@click.option("--static", is_flag=True, help="With --module: keep every dimension as in the example (no dynamic batch).")
@click.option("--output-names", help="With --module: comma-separated output names (default output_0, output_1, ...).")
@click.option("--out", type=click.Path(dir_okay=False), help="Where to write the model (default: RUN/model.onnx; required with --module). Must end in .onnx.")
@click.option("--exporter", default="dynamo", show_default=True, type=click.Choice(["dynamo", "torchscript"]), help="torch.export-based exporter (opset 18-23), or the legacy TorchScript one (opset 9-20).")
@click.option("--opset", default=18, show_default=True, type=number("opset"), help="ONNX opset to target; one outside the exporter's range exits 2.")
@click.option("--with-probabilities", is_flag=True, help="Add a 'probabilities' output: softmax over the logits, inside the graph.")
@click.option("--with-label", is_flag=True, help="Add a 'label' output: int64 argmax of the logits, inside the graph.")
@click.option("--atol", default=1e-5, show_default=True, type=number("tolerance"), help="Absolute tolerance of the parity check.")
@click.option("--rtol", default=1e-5, show_default=True, type=number("tolerance"), help="Relative tolerance of the parity check (times |torch output|).")
@click.option("--json", "as_json", is_flag=True, help="Print the export and parity report as JSON.")
def command(run: str | None, module: str | None, example: str | None, dynamic: tuple[str, ...], static: bool, output_names: str | None, out: str | None, exporter: str, opset: int, with_probabilities: bool, with_label: bool, atol: float, rtol: float, as_json: bool) -> None:
    """Export a trained run (or your own torch module) to one ONNX file and prove it matches torch.

    \b
    The graph takes 'features' float32 [batch, n_features] in raw units (standardisation
    is inside) and returns 'logits' float32 [batch, n_classes], plus the optional outputs.
    Class names, feature names and units, the weights' and data's sha256, library versions
    and the training config go into the model's metadata_props.

    \b
    Right after writing, onnx.checker (full_check) runs, then onnxruntime (CPU) is compared
    with torch on the test split, the whole dataset, seeded random rows inside and beyond
    the training range, edge rows and huge values (+-1e3..1e6 x the feature range), all at
    once and one row at a time: |ort - torch| <= atol + rtol * |torch| per value (for the
    huge rows, |torch| is the row's largest, since float32 cancellation makes single values
    meaningless there). A mismatch exits 1; the file is kept but marked 'validated: false'
    in RUN/manifest.json, and 'irisonnx predict RUN' refuses it.

    \b
    Examples:
      irisonnx export artifacts/runs/iris
      irisonnx export artifacts/runs/iris --exporter torchscript --with-probabilities --with-label
      irisonnx export artifacts/runs/iris --out iris.onnx --opset 20 --json

    \b
    Your own module: irisonnx export --module net.py:build --example example.npz --out net.onnx
    The graph's inputs are named after forward's parameters and the example's arrays fix their
    dtypes and sizes; axis 0 of each is dynamic unless --static (--dynamic ids:1=seq adds one).
    The same checks follow: onnx.checker (full_check), loading as every command does, then
    onnxruntime CPU against your module on the example (and on another batch size when the
    batch is dynamic), |ort - torch| <= atol + rtol * |torch| per value, integer outputs
    exactly. A mismatch exits 1; the file is kept, marked irisonnx_validated=false in its
    metadata. The metadata records the exporter, versions, FILE.py:FACTORY (the file's name
    and sha256, no folders) and the input/output names.

    \b
      irisonnx export --module net.py:build --example ex.npz --out net.onnx --output-names logits,label
      irisonnx export --module lm.py:model --example ids.npz --dynamic ids:1=seq --out lm.onnx
    """
    from irisonnx.errors import CheckFailed, UsageError
    from irisonnx.export.export import export_run

    if module is not None:
        _module(run, module, example, dynamic, static, output_names, out, exporter, opset, with_probabilities, with_label, atol, rtol, as_json)
        return
    for flag, v in (("--example", example), ("--dynamic", dynamic), ("--static", static), ("--output-names", output_names)):
        if v:
            raise UsageError(f"{flag} needs --module", "it applies to your own torch module, not to a run")
    if run is None:
        raise UsageError("nothing to export", "give a run folder, or --module FILE.py:FACTORY --example FILE.npz --out FILE.onnx")
    try:
        res = export_run(run, out=out, exporter=exporter, opset=opset, with_probabilities=with_probabilities, with_label=with_label, atol=atol, rtol=rtol)
    except CheckFailed as exc:
        failed = getattr(exc, "result", None)
        if failed is not None:
            _render(failed, as_json)
        raise
    _render(res, as_json)


def _module(run: str | None, module: str, example: str | None, dynamic: tuple[str, ...], static: bool, output_names: str | None, out: str | None, exporter: str, opset: int, with_probabilities: bool, with_label: bool, atol: float, rtol: float, as_json: bool) -> None:
    from irisonnx.errors import CheckFailed, UsageError
    from irisonnx.export.export_module import export_module, parse_dynamic

    if run is not None:
        raise UsageError("give a run folder or --module, not both", f"{run} and --module {module}")
    if with_probabilities or with_label:
        raise UsageError("--with-probabilities and --with-label are for runs", "a module's outputs are what its forward returns")
    if example is None or out is None:
        raise UsageError("--module needs --example and --out", "e.g. irisonnx export --module net.py:build --example example.npz --out net.onnx")
    if static and dynamic:
        raise UsageError("--static and --dynamic exclude each other", "--static keeps every dimension as in the example")
    names = [n.strip() for n in output_names.split(",")] if output_names is not None else None
    parsed = parse_dynamic(dynamic)  # exit 2 on a malformed flag before torch is imported
    try:
        res = export_module(module, example, out, exporter=exporter, opset=opset, dynamic=parsed, static=static, output_names=names, atol=atol, rtol=rtol)
    except CheckFailed as exc:
        failed = getattr(exc, "result", None)
        if failed is not None:
            _render_module(failed, as_json)
        raise
    _render_module(res, as_json)


def _render_module(res: Any, as_json: bool) -> None:
    if as_json:
        echo_json(res.to_dict())
        return
    click.echo(f"exported {res.path}  ({res.module}; {res.exporter} exporter, opset {res.opset}; {res.size:,} bytes; sha256 {res.sha256[:16]}…)")
    click.echo(f"  export    {res.export_seconds:.2f} s in torch.onnx.export")

    def sig(items: list[dict[str, Any]]) -> str:
        return ", ".join(f"{t['name']} {t['dtype']} [{', '.join('?' if d is None else str(d) for d in t['shape'])}]" for t in items)

    click.echo(f"  graph     {sig(res.inputs)} -> {sig(res.outputs)}")
    click.echo(f"  checker   onnx.checker full_check passed ({res.check_seconds * 1000:.1f} ms)")
    for r in res.parity:
        click.echo(f"  parity    onnxruntime CPU vs torch on {r.inputs}; {r.tolerance.describe()}")
        for p in r.pairs:
            for s in p.outputs.values():
                verdict = "ok" if s.passed else "FAIL"
                extra = f", {s.n_fail}/{s.n_elements} values out of tolerance" if s.n_fail else ""
                where = f", worst at {s.worst['index']}" if s.worst and not s.passed else ""
                shape = f" ({s.shape_mismatch})" if s.shape_mismatch else ""
                click.echo(f"    output {s.output}: max abs err {_fmt(s.max_abs)}, max rel err {_fmt(s.max_rel)}{extra}{where}{shape}  {verdict}")
    click.echo(f"  {'PASS' if res.validated else 'FAIL'}" + ("" if res.validated else "  (kept, marked irisonnx_validated=false)"))


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.3g}"


def _render(res: Any, as_json: bool) -> None:
    from irisonnx.export.export import ROW_SCALED_GROUPS

    if as_json:
        echo_json(res.to_dict())
        return
    rep = res.parity
    click.echo(f"exported {res.path}  ({res.exporter} exporter, opset {res.opset}; {res.size:,} bytes; sha256 {res.sha256[:16]}…)")
    click.echo(f"  export    {res.export_seconds:.2f} s in torch.onnx.export")
    n_c = res.metadata.get("n_classes", "?")
    kinds = {"logits": f"float32 [batch, {n_c}]", "probabilities": f"float32 [batch, {n_c}]", "label": "int64 [batch]"}
    outs = ", ".join(f"{o} {kinds.get(o, '')}" for o in res.outputs)
    click.echo(f"  graph     features float32 [batch, {res.metadata.get('n_features', '?')}] -> {outs}")
    click.echo(f"  checker   onnx.checker full_check passed ({res.check_seconds * 1000:.1f} ms)")
    click.echo(f"  parity    onnxruntime CPU vs torch on {rep.n_rows:,} rows, {' and '.join(rep.batch_modes)}; pass if |ort - torch| <= {rep.atol:g} + {rep.rtol:g} * |torch|")
    if rep.rtol > 0:
        click.echo(f"            (rel err over values with |torch| >= atol/rtol = {rep.atol / rep.rtol:g}, where rtol rules; err/tol <= 1 passes)")
    click.echo(f"    {'group':<14} {'rows':>5}  {'max abs err':>11}  {'max rel err':>11}  {'err/tol':>7}  tolerance")
    for g, st in rep.by_group.items():
        ratio = "inf" if st.max_ratio == float("inf") else f"{st.max_ratio:.2f}"
        scale = "row-scaled" if g in ROW_SCALED_GROUPS else "elementwise"
        click.echo(f"    {g:<14} {rep.groups[g]:>5}  {_fmt(st.max_abs_err):>11}  {_fmt(st.rel):>11}  {ratio:>7}  {scale}")
    for name, st in rep.outputs.items():
        click.echo(f"    output {name}: max abs err {_fmt(st.max_abs_err)}, max rel err {_fmt(st.rel)}, {st.n_bad} values out of tolerance")
    if "label" in res.outputs:
        click.echo(f"    output label: {rep.label_mismatches} rows disagree (near-ties excluded)")
    verdict = "PASS" if rep.passed else "FAIL"
    if res.path.resolve() == (res.run_dir / "model.onnx").resolve():
        click.echo(f"  {verdict}  manifest: validated {str(rep.passed).lower()}")
    else:
        click.echo(f"  {verdict}  (written outside the run: its model.onnx and manifest are untouched)")
