from __future__ import annotations

from typing import Any

import click

from irisonnx.cli import echo_json


@click.command("predict")
@click.argument("model", metavar="MODEL_OR_RUN", type=click.Path())
@click.option("--values", help='One row, comma-separated in the model\'s feature order, e.g. "5.1,3.5,1.4,0.2".')
@click.option("--input", "input_path", type=click.Path(dir_okay=False), help="Many rows: a .csv (with or without a header) or a .npy array (rows, n_features).")
@click.option("--output", "output_path", type=click.Path(dir_okay=False), help="Write predictions to a .csv, .json or .npy file (atomically) instead of printing a table.")
@click.option("--provider", default="cpu", show_default=True, type=click.Choice(["cpu", "cuda"]), help="onnxruntime execution provider. Never falls back: cuda unavailable exits 4.")
@click.option("--allow-tf32", is_flag=True, help="CUDA only: let matmuls use TF32 (use_tf32=1). Off by default.")
@click.option("--threads", type=int, help="CPU: worker threads for large inputs, each running onnxruntime on one thread over its share of row chunks (default: one per usable core). CUDA: onnxruntime intra-op threads.")
@click.option("--graph-optimization", default="all", show_default=True, type=click.Choice(["all", "extended", "basic", "disable"]), help="onnxruntime graph optimisation level.")
@click.option("--json", "as_json", is_flag=True, help="Print the predictions (or, with --output, a summary) as JSON.")
def command(model: str, values: str | None, input_path: str | None, output_path: str | None, provider: str, allow_tf32: bool, threads: int | None, graph_optimization: str, as_json: bool) -> None:
    """Classify rows with onnxruntime. Needs onnxruntime, onnx and numpy; never imports torch.

    MODEL_OR_RUN is an .onnx file or a run folder (its model.onnx, checked against the
    run's manifest: a modified model, or one that failed export's parity check, exits 3).

    \b
    Input: --values for one row, or --input FILE. A CSV header's names must include the
    model's feature names (matched by name, in any order; other columns are ignored);
    without a header each line holds the values in the model's order. Missing, non-numeric,
    NaN or infinite values, a wrong number of columns, an empty file, or a .npy of the wrong
    dtype or rank exit 2 with one line naming the problem.

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
      irisonnx predict model.onnx --input rows.npy --provider cuda --json
    """
    from irisonnx.errors import UsageError
    from irisonnx.predict_io import predictions_doc, read_input, write_predictions
    from irisonnx.predictor import Predictor

    if (values is None) == (input_path is None):
        raise UsageError("give exactly one of --values and --input", "--values ROW for one row, --input FILE.csv|.npy for many")
    if output_path:
        from irisonnx.guard import check_output

        check_output(output_path, "--output")  # never a run's own file or a processed dataset's
    pred = Predictor(model, provider=provider, threads=threads, graph_optimization=graph_optimization, allow_tf32=allow_tf32)
    pred._need_classifier()  # --values and the class table are for classifiers
    if values is not None:
        from irisonnx.predict_io import parse_values

        rows = parse_values(values, pred.feature_names)
    else:
        rows = read_input(input_path, pred.feature_names)  # type: ignore[arg-type]
    labels, probs = pred.predict(rows.x)
    about = {
        "model": str(pred.info.path),
        "sha256": pred.info.sha256,
        "provider": pred.providers[0],
        "input": rows.source,
        "ignored_columns": rows.ignored_columns,
    }
    if output_path:
        fmt = write_predictions(output_path, labels, probs, pred.class_names, **about)
        if as_json:
            echo_json({**about, "output": output_path, "format": fmt, "n_rows": int(len(labels))})
        else:
            click.echo(f"wrote {len(labels):,} predictions to {output_path} ({fmt}; {pred.providers[0]})")
        return
    if as_json:
        echo_json(predictions_doc(labels, probs, pred.class_names, **about))
        return
    _table(labels, probs, pred.class_names)
    if rows.ignored_columns:
        click.echo(f"(ignored input columns: {', '.join(rows.ignored_columns)})", err=True)


def _table(labels: Any, probs: Any, class_names: list[str]) -> None:
    width = max(5, *(len(c) for c in class_names))
    n_w = max(3, len(str(len(labels))))
    click.echo(f"{'row':>{n_w}}  {'class':<{width}}  " + "  ".join(f"{c:>{max(len(c), 6)}}" for c in class_names))
    lines = []
    for i, (lab, row) in enumerate(zip(labels, probs), start=1):
        cells = "  ".join(f"{float(p):>{max(len(c), 6)}.4f}" for c, p in zip(class_names, row))
        lines.append(f"{i:>{n_w}}  {class_names[int(lab)]:<{width}}  {cells}")
    click.echo("\n".join(lines))
