from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from irisonnx.cli import echo_json, max_input_option, number


@click.command("predict")
@click.argument("model", metavar="MODEL_OR_RUN", type=click.Path())
@click.option("--values", help='One row, comma-separated in the model\'s feature order, e.g. "5.1,3.5,1.4,0.2" (classifiers).')
@click.option("--input", "input_path", type=click.Path(dir_okay=False), help="A .npz (arrays by input name; any model), a .npy (a model with one input), or a .csv of rows (classifiers; with or without a header).")
@click.option("--output", "output_path", type=click.Path(dir_okay=False), help="Write atomically instead of printing: .npz holds every output by name (any model); .csv, .json or .npy hold a classifier's predictions.")
@click.option("--classify", "classify", metavar="OUTPUT", help="Show OUTPUT, a 2-D float output (rows, classes), as class scores: the class table, --values, CSV rows. Softmax is applied unless its rows are probabilities already.")
@click.option("--provider", default="cpu", show_default=True, type=click.Choice(["cpu", "cuda"]), help="onnxruntime execution provider. Never falls back: cuda unavailable exits 4.")
@click.option("--allow-tf32", is_flag=True, help="CUDA only: let matmuls use TF32 (use_tf32=1). Off by default.")
@click.option("--threads", type=number("threads"), help="CPU: for irisonnx's classifiers, worker threads for large inputs, each running onnxruntime on one thread over its share of row chunks; for any other model, onnxruntime's intra-op threads (default: one per usable core). CUDA: onnxruntime intra-op threads.")
@click.option("--graph-optimization", default="all", show_default=True, type=click.Choice(["all", "extended", "basic", "disable"]), help="onnxruntime graph optimisation level.")
@max_input_option
@click.option("--json", "as_json", is_flag=True, help="Print the predictions (or, with --output, a summary) as JSON.")
def command(model: str, values: str | None, input_path: str | None, output_path: str | None, classify: str | None, provider: str, allow_tf32: bool, threads: int | None, graph_optimization: str, as_json: bool) -> None:
    """Run any ONNX model with onnxruntime. Needs onnxruntime, onnx and numpy; never imports torch.

    MODEL_OR_RUN is an .onnx file or a run folder (its model.onnx, checked against the
    run's manifest: a modified model, or one that failed export's parity check, exits 3).

    \b
    Any model: --input FILE.npz with one array per input name (a .npy when the model has
    one input). Arrays are checked against the model's signature: a missing, extra, wrongly
    typed or wrongly shaped array exits 2 naming it. A model with a fixed batch (say 1) is
    fed that many rows at a time. --output FILE.npz writes every output by name (strings as
    fixed-width unicode, never pickles; a sequence of maps, as skl2onnx's ZipMap gives, as a
    (rows, keys) float32 array with the keys in sorted order); --json prints every output
    with its name, dtype, shape and values as nested lists (at most 100,000 values; beyond
    that use --output FILE.npz); otherwise each output is shown, shortened.

    \b
    Classifiers (irisonnx's own models, or any model with --classify OUTPUT): a class table,
    or with --output a .csv, .json or .npy of labels and probabilities. --values gives one
    row and --input FILE.csv many (a header's names must include the model's feature names,
    matched by name in any order; without a header, values in the model's order); both need
    a model with one 2-D numeric input. --classify reads OUTPUT (rows, classes) as class
    scores: rows that are already probabilities (values in [0, 1] summing to 1 within 1e-4)
    are shown as they are, anything else gets a row softmax; labels are the argmax; classes
    are named 0..C-1 (a ZipMap's keys). Missing, non-numeric, NaN or infinite values, a
    wrong number of columns, an empty file, or a .npy of the wrong dtype or rank exit 2.

    \b
    Rows without a class: finite inputs far outside the training range can overflow float32
    inside the model (e.g. "3e38,3e38,3e38,3e38"). A row whose outputs are NaN or infinite
    has no class: the table shows "(none)", CSV output leaves its cells empty with a reason,
    JSON gives null with a "reason" (.npy keeps the NaN). All rows are still written, and
    the exit code is 1.

    \b
    Providers: --provider cuda needs onnxruntime-gpu and a GPU. It is an error (exit 4),
    never a silent fallback to CPU, when CUDA is missing or when the session did not put
    the model on it (CPU fallback of single nodes is switched off too:
    session.disable_cpu_ep_fallback=1). CUDA's use_tf32 is off unless --allow-tf32:
    TF32 matmuls keep 10 mantissa bits instead of 23, so results drift (~1e-3 relative).

    \b
    Examples:
      irisonnx predict artifacts/runs/iris --values "5.1,3.5,1.4,0.2"
      irisonnx predict artifacts/runs/iris/model.onnx --input datastore/raw/iris.csv --output preds.csv
      irisonnx predict model.onnx --input inputs.npz --output outputs.npz
      irisonnx predict sklearn.onnx --input x.npy --classify probabilities
    """
    from irisonnx.errors import UsageError
    from irisonnx.runtimes.ort_engine import Predictor

    if (values is None) == (input_path is None):
        raise UsageError("give exactly one of --values and --input", "--values ROW for one row, --input FILE.npz|.npy|.csv for many")
    out_suffix = Path(output_path).suffix.lower() if output_path else None
    if classify is not None and out_suffix == ".npz":
        raise UsageError("--classify and --output FILE.npz do not go together", "a .npz holds every output as the model gives it", "drop --classify, or write the class table to .csv, .json or .npy")
    in_suffix = None if input_path is None else _check_input_path(input_path)
    if output_path:
        from irisonnx.guard import check_output

        check_output(output_path, "--output")  # never a run's own file or a processed dataset's
    pred = Predictor(model, provider=provider, threads=threads, graph_optimization=graph_optimization, allow_tf32=allow_tf32)
    info = pred.info
    # The class table by default only for irisonnx's own classifiers (its metadata names the
    # classes); any other model gives its outputs as they are unless --classify asks for classes.
    own = info.is_classifier and classify is None and info.has_irisonnx_metadata
    table = (own or classify is not None) and out_suffix != ".npz"
    if out_suffix not in (None, ".npz") and not table:
        from irisonnx.modelfile.signature import shorten

        raise UsageError(f"--output {out_suffix} is for a classifier's predictions", f"this model is not a classifier; it gives {shorten(o.describe() for o in info.outputs)}", "write every output with --output FILE.npz, or read a 2-D float output as class scores with --classify OUTPUT")
    about: dict[str, Any] = {"model": str(info.path), "sha256": info.sha256, "provider": pred.providers[0], "input": values is not None and "--values" or str(input_path), "ignored_columns": []}
    if classify is not None:
        _classify_spec(info, classify)

    columns: dict[str, list[str]] = {}
    if own:
        rows_x, about["input"], about["ignored_columns"] = _own_rows(pred, values, input_path, in_suffix)
        if table:
            labels, probs = pred.predict(rows_x)
            _show_classes(labels, probs, pred.class_names, about, output_path, as_json)
            return
        outputs = pred.run(rows_x)
        n_rows = int(rows_x.shape[0])
    else:
        inset, about["input"], about["ignored_columns"] = _any_feeds(pred, values, input_path, in_suffix, classify is not None)
        n_rows = _rows(inset)
        outputs, columns = _run_any(pred, inset, [classify] if table else None)
    if table:
        from irisonnx.data.predict_io import class_scores

        scores = outputs[classify]  # type: ignore[index]
        if scores.ndim != 2 or scores.dtype.kind != "f" or scores.shape[0] != n_rows:
            raise UsageError(f"--classify {classify!r}: the output is {scores.dtype} of shape {list(scores.shape)}", f"class scores are a 2-D float array with one row per input row ({n_rows})")
        labels, probs, applied = class_scores(scores)
        names = columns.get(classify) or [str(i) for i in range(scores.shape[1])]  # type: ignore[arg-type]
        _show_classes(labels, probs, names, {**about, "classified_output": classify, "softmax": applied}, output_path, as_json)
        return
    _show_outputs(outputs, columns, about, n_rows, output_path, as_json)


# --- inputs ------------------------------------------------------------------------------------


def _check_input_path(path: str) -> str:
    from irisonnx.errors import UsageError
    from irisonnx.storage import check_regular_file

    p = Path(path)
    if p.is_dir():
        raise UsageError("input path is a folder", str(p), "give a .npz, .npy or .csv file")
    check_regular_file(p, "input file")  # not /dev/zero, not a FIFO: exit 2 before reading
    suffix = p.suffix.lower()
    if suffix not in (".npz", ".npy", ".csv"):
        raise UsageError("unknown input format", f"{p.name!r}", "give a .npz (arrays by input name), .npy or .csv file")
    return suffix


def _feature_input(info: Any) -> Any:
    """The input spec when the model takes one 2-D float input of a fixed width a CSV row can
    hold (the rows --values and a CSV give); None for any other signature. The width bound
    keeps a declared [batch, 1e12] from making a name per feature."""
    from irisonnx.modelfile.onnx_io import MAX_FEATURES

    if len(info.inputs) != 1:
        return None
    spec = info.inputs[0]
    if not spec.is_float or len(spec.shape) != 2 or not isinstance(spec.shape[1], int) or not 1 <= spec.shape[1] <= MAX_FEATURES:
        return None
    return spec


def _npz_samples(path: str, sig: Any) -> list[dict[str, Any]]:
    from irisonnx.compare.inputs import _read_file_feeds  # the one .npz/.npy reader (no pickles)

    return _read_file_feeds(path, sig, None)


def _own_rows(pred: Any, values: str | None, input_path: str | None, suffix: str | None) -> tuple[Any, str, list[str]]:
    """(rows, source, ignored CSV columns) for irisonnx's classifier: checked by the Predictor."""
    from irisonnx.data.predict_io import parse_values, read_input

    if values is not None:
        rows = parse_values(values, pred.feature_names)
        return rows.x, rows.source, []
    if suffix == ".npz":
        from irisonnx.compare.inputs import checked_set

        inset = checked_set(_npz_samples(input_path, pred.info.signature), pred.info.signature, str(input_path))  # type: ignore[arg-type]
        return inset.samples[0][pred.info.input.name], str(input_path), []
    rows = read_input(input_path, pred.feature_names)  # type: ignore[arg-type]
    return rows.x, rows.source, rows.ignored_columns


def _any_feeds(pred: Any, values: str | None, input_path: str | None, suffix: str | None, classify: bool) -> tuple[Any, str, list[str]]:
    """(InputSet, source, ignored CSV columns) for any model, checked against its signature."""
    from irisonnx.errors import UsageError
    from irisonnx.compare.inputs import checked_set
    from irisonnx.data.predict_io import parse_values, read_input
    from irisonnx.modelfile.signature import shorten

    info = pred.info
    sig = info.signature
    if values is not None or suffix == ".csv":
        what = "--values" if values is not None else "a .csv input"
        feat = _feature_input(info)
        takes = shorten(f"{i.name!r} {i.dtype} {i.shape_str()}" for i in info.inputs)
        if not classify:
            raise UsageError(f"{what} gives the rows of a classifier", f"this model is not a classifier; it takes {takes}", "use --input FILE.npz (arrays by input name)" + ("; or --classify OUTPUT to read a 2-D float output as class scores" if feat else ""))
        if feat is None:
            raise UsageError(f"{what} gives the rows of one 2-D float input", f"this model takes {takes}", "use --input FILE.npz (arrays by input name)")
        spec = feat
        names = info.feature_names if info.is_classifier else [f"x{i}" for i in range(spec.shape[1])]
        rows = parse_values(values, names) if values is not None else read_input(input_path, names)  # type: ignore[arg-type]
        return checked_set([{spec.name: rows.x}], sig, rows.source), rows.source, rows.ignored_columns
    return checked_set(_npz_samples(input_path, sig), sig, str(input_path)), str(input_path), []  # type: ignore[arg-type]


def _rows(inset: Any) -> int:
    first = next(iter(inset.samples[0].values()), None)
    return int(first.shape[0]) if first is not None and first.ndim else 1


# --- running -----------------------------------------------------------------------------------


def _run_any(pred: Any, inset: Any, names: list[str] | None) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Every output (or ``names``) on all the rows, in one onnxruntime call, or in chunks of a
    fixed batch whose outputs are stacked. Sequences of maps become (rows, keys) arrays
    (runtimes.base.normalise_outputs); their keys are returned as columns."""
    import numpy as np

    from irisonnx.errors import UsageError
    from irisonnx.data.predict_io import plain_outputs
    from irisonnx.runtimes.base import normalise_outputs

    columns: dict[str, list[str]] = {}
    chunks = list(inset.chunks(inset.chunk_rows)) if inset.chunk_rows else [(0, inset.samples[0])]
    parts = []
    for _, feeds in chunks:
        raw = pred.run_feeds(feeds, names)
        for k, v in raw.items():
            if isinstance(v, (list, tuple)) and v and isinstance(v[0], dict):
                columns[k] = [str(c) for c in sorted(v[0])]
        parts.append(plain_outputs(normalise_outputs(raw, "onnxruntime")))
    if len(parts) == 1:
        return parts[0], columns
    out = {}
    for k in parts[0]:
        arrays = [p[k] for p in parts]
        if any(a.ndim == 0 or a.shape[0] != inset.chunk_rows for a in arrays):
            raise UsageError(f"output {k!r} does not follow the input rows", f"the model has a fixed batch of {inset.chunk_rows} and gives {k!r} of shape {list(arrays[0].shape)} per batch", f"give exactly {inset.chunk_rows} rows")
        out[k] = np.concatenate(arrays)
    return out, columns


def _classify_spec(info: Any, name: str) -> None:
    """--classify OUTPUT must name a 2-D float output (or a sequence of maps to floats)."""
    from irisonnx.errors import UsageError
    from irisonnx.modelfile.signature import shorten

    spec = info.signature.output(name)
    if spec is None:
        raise UsageError(f"--classify names an unknown output {name!r}", f"the model's outputs are {shorten(o.describe() for o in info.outputs)}")
    if spec.is_tensor and spec.is_float and len(spec.shape) == 2:
        return
    if spec.dtype.startswith("seq(map(") and spec.dtype.endswith((",float32))", ",float64))")):
        return  # skl2onnx's ZipMap: one {class: probability} per row
    scores = [o.name for o in info.outputs if o.is_tensor and o.is_float and len(o.shape) == 2]
    raise UsageError(f"--classify {name!r}: output {spec.describe()} is not class scores", "--classify needs a 2-D float output (rows, classes)", f"this model's 2-D float outputs: {', '.join(scores)}" if scores else "this model has no 2-D float output")


# --- showing -----------------------------------------------------------------------------------


def _show_classes(labels: Any, probs: Any, class_names: list[str], about: dict[str, Any], output_path: str | None, as_json: bool) -> None:
    """The class table, CSV, JSON or .npy of a classifier's predictions. A row whose outputs are
    not finite has no class: shown as such (null in JSON), and the command exits 1."""
    from irisonnx.data.predict_io import predictions_doc, unclassified, write_predictions

    bad = unclassified(probs)

    if output_path:
        fmt = write_predictions(output_path, labels, probs, class_names, **about)
        if as_json:
            echo_json({**about, "output": output_path, "format": fmt, "n_rows": int(len(labels)), "n_unclassified": int(bad.size)})
        else:
            click.echo(f"wrote {len(labels):,} predictions to {output_path} ({fmt}; {about['provider']})")
    elif as_json:
        echo_json(predictions_doc(labels, probs, class_names, **about))
    else:
        _table(labels, probs, class_names, set(bad.tolist()))
        if about["ignored_columns"]:
            click.echo(f"(ignored input columns: {', '.join(about['ignored_columns'])})", err=True)
    if bad.size:
        from irisonnx.errors import CheckFailed
        from irisonnx.data.predict_io import NO_CLASS

        shown = ", ".join(str(i + 1) for i in bad[:10]) + (", ..." if bad.size > 10 else "")
        raise CheckFailed(f"{bad.size:,} of {len(labels):,} row(s) have no class", f"{NO_CLASS} for row(s) {shown}", "inputs far outside the training range overflow float32 inside the model")


def _show_outputs(outputs: dict[str, Any], columns: dict[str, list[str]], about: dict[str, Any], n_rows: int, output_path: str | None, as_json: bool) -> None:
    import numpy as np

    from irisonnx.data.predict_io import dtype_name, outputs_doc, write_npz
    from irisonnx.modelfile.signature import shorten

    about = {k: v for k, v in about.items() if k != "ignored_columns" or v}
    if output_path:
        write_npz(output_path, outputs)
        if as_json:
            specs = [{"name": k, "dtype": dtype_name(a), "shape": list(a.shape), **({"columns": columns[k]} if k in columns else {})} for k, a in outputs.items()]
            echo_json({**about, "output": output_path, "format": "npz", "n_rows": n_rows, "outputs": specs})
        else:
            click.echo(f"wrote {len(outputs)} output{'s' if len(outputs) != 1 else ''} ({shorten(outputs)}) for {n_rows:,} input rows to {output_path} (npz; {about['provider']})")
        return
    if as_json:
        echo_json(outputs_doc(outputs, columns, **about, n_rows=n_rows))
        return
    threshold = 200
    for k, a in outputs.items():
        click.echo(f"{k}  {dtype_name(a)} [{', '.join(map(str, a.shape))}]" + (f"  columns {shorten(columns[k])}" if k in columns else ""))
        click.echo(np.array2string(a, threshold=threshold, edgeitems=3, max_line_width=120))
    if any(a.size > threshold for a in outputs.values()):
        click.echo("(outputs shortened; --output FILE.npz holds every value)", err=True)


def _table(labels: Any, probs: Any, class_names: list[str], bad: set[int]) -> None:
    width = max(6, *(len(c) for c in class_names))
    n_w = max(3, len(str(len(labels))))
    click.echo(f"{'row':>{n_w}}  {'class':<{width}}  " + "  ".join(f"{c:>{max(len(c), 6)}}" for c in class_names))
    lines = []
    for i, (lab, row) in enumerate(zip(labels, probs), start=1):
        if i - 1 in bad:
            cells = "  ".join(f"{'-':>{max(len(c), 6)}}" for c in class_names)
            lines.append(f"{i:>{n_w}}  {'(none)':<{width}}  {cells}  no class: outputs not finite")
            continue
        cells = "  ".join(f"{float(p):>{max(len(c), 6)}.4f}" for c, p in zip(class_names, row))
        lines.append(f"{i:>{n_w}}  {class_names[int(lab)]:<{width}}  {cells}")
    click.echo("\n".join(lines))
