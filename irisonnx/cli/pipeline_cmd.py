from __future__ import annotations

import click

from irisonnx.cli import bar_width, echo_json, max_input_option, number, parse_int_list


@click.command("pipeline")
@click.option("--name", help="Dataset name (default: the --csv file's stem, or iris for the bundled Iris).")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), help="A numeric classification CSV instead of the bundled Iris.")
@click.option("--target", help="Label column of --csv.")
@click.option("--run", "run_dir", type=click.Path(file_okay=False), help="Run folder (default: artifacts/runs/<name>).")
@click.option("--hidden", default="16", show_default=True, help="Hidden layer sizes, e.g. 32,16.")
@click.option("--epochs", default=100, show_default=True, type=number("epochs"))
@click.option("--seed", default=0, show_default=True, type=number("seed"))
@click.option("--exporter", default="dynamo", show_default=True, type=click.Choice(["dynamo", "torchscript"]))
@click.option("--web/--no-web", default=None, help="Use the browser runtime and build edge/web (default: when Chromium and web/node_modules are present).")
@click.option("--bench/--no-bench", default=True, show_default=True, help="Run a short benchmark.")
@click.option("--families/--no-families", default=True, show_default=True, help="Also compare and bench the runtime families beyond onnxruntime (openvino, litert, executorch) where they are installed; the others are listed as unavailable with the command that enables them.")
@max_input_option
@click.option("--force", is_flag=True, help="Replace a processed dataset of this name that was made from another CSV or target.")
@click.option("--json", "as_json", is_flag=True, help="Print the stage summary as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="No progress display.")
def command(name: str | None, csv_path: str | None, target: str | None, run_dir: str | None, hidden: str, epochs: int, seed: int, exporter: str, web: bool | None, bench: bool, families: bool, force: bool, as_json: bool, quiet: bool) -> None:
    """The main job: data -> train -> verify -> export -> compare -> edge -> bench -> report.

    Re-running continues from what is done and valid (checksums), not from scratch. A failing
    stage stops the pipeline, is named in the error, and sets the exit code (1 a check or gate,
    2 usage/data, 3 artifact, 4 runtime).

    \b
    Examples:
      irisonnx pipeline
      irisonnx pipeline --csv wine.csv --target class --name wine
      irisonnx pipeline --no-families --no-web
    """
    from irisonnx.pipeline.runner import STAGES, PipelineConfig, run_pipeline

    cfg = PipelineConfig(name=name, csv=csv_path, target=target, run=run_dir, hidden=parse_int_list(hidden, "--hidden", "hidden"), epochs=epochs, seed=seed, exporter=exporter, web=web, bench=bench, families=families, force=force)
    bar = None
    on_event = None
    if not quiet and not as_json:
        from tqdm import tqdm

        # disable=None: no bar when stderr is not a terminal (logs stay readable in CI)
        bar = tqdm(total=len(STAGES), desc="pipeline", unit="stage", leave=False, disable=None, mininterval=0.2, **bar_width())

        def on_event(stage: str, msg: str) -> None:
            bar.set_description(f"pipeline: {stage}", refresh=False)
            bar.set_postfix_str(msg[:70], refresh=False)
            if msg != "start" and not msg.startswith("epoch"):
                bar.update(1)

    try:
        res = run_pipeline(cfg, on_event)
    finally:
        if bar is not None:
            bar.close()
    if as_json:
        echo_json(res.to_dict())
        return
    w = max(len(s.stage) for s in res.stages)
    click.echo(f"{'stage':<{w}}  {'status':<10}  {'seconds':>7}  result")
    for s in res.stages:
        click.echo(f"{s.stage:<{w}}  {s.status:<10}  {s.seconds:>7.2f}  {s.summary}")
    if res.matrix:
        from irisonnx.report.matrix import matrix_text

        click.echo("\nruntime matrix (vs the baseline on every row; bench's batch-1 p50 and best rows/s):")
        click.echo(matrix_text(res.matrix))
    click.echo(f"report: {res.report}")
