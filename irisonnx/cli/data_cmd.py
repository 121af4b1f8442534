from __future__ import annotations

import click

from irisonnx.cli import echo_json, max_input_option, number


@click.command("data")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), help="A numeric classification CSV with a header row (default: bundled Iris).")
@click.option("--target", help="Name of the label column (required with --csv).")
@click.option("--name", help="Dataset name; output goes to DATASTORE/processed/NAME (default: iris).")
@click.option("--datastore", type=click.Path(file_okay=False), help="Datastore folder (default: $IRISONNX_DATASTORE or ./datastore).")
@click.option("--test-fraction", default=0.2, show_default=True, type=number("test_fraction"), help="Share of rows held out, per class.")
@click.option("--seed", default=42, show_default=True, type=number("seed"), help="Seed of the stratified split.")
@click.option("--url", help="Bundled Iris only: download from URL first; must match the pinned sha256; falls back to the bundled copy when offline.")
@max_input_option
@click.option("--force", is_flag=True, help="Replace a processed dataset of this name that was made from another CSV or target.")
@click.option("--json", "as_json", is_flag=True, help="Print the dataset summary as JSON.")
def command(csv_path: str | None, target: str | None, name: str | None, datastore: str | None, test_fraction: float, seed: int, url: str | None, force: bool, as_json: bool) -> None:
    """Convert a CSV to features.npy, labels.npy and meta.json (with checksums and a seeded split).

    \b
    Examples:
      irisonnx data
      irisonnx data --csv wine.csv --target class --name wine
    Bad CSVs (missing values, non-numeric cells, ragged rows, one class) exit 2 and write nothing.
    """
    from irisonnx.data import datastore as data
    from irisonnx.errors import UsageError

    if csv_path:
        if not target:
            raise UsageError("--csv needs --target", "name the label column")
        if url:
            raise UsageError("--url works only for the bundled Iris", "drop --csv or --url")
        from pathlib import Path

        text = data.read_source_csv(csv_path)
        ds = data.convert(text, name=name or Path(csv_path).stem, target=target, source_name=Path(csv_path).name, datastore=datastore, test_fraction=test_fraction, seed=seed, force=force)
    else:
        if target or (name and name != "iris"):
            raise UsageError("--target and --name need --csv", "without --csv the bundled Iris is converted")
        notes: list[str] = []
        ds = data.convert_iris(datastore, url=url, test_fraction=test_fraction, seed=seed, notes=notes, force=force)
        for note in notes:  # the fallback to the bundled copy is said, not silent
            click.echo(f"irisonnx: note: {note}", err=True)
    summary = {
        "name": ds.name,
        "dir": str(ds.dir),
        "rows": ds.meta["n_rows"],
        "features": ds.feature_names,
        "classes": ds.class_names,
        "class_counts": ds.meta["class_counts"],
        "train_rows": len(ds.meta["split"]["train"]),
        "test_rows": len(ds.meta["split"]["test"]),
        "source_sha256": ds.meta["source"]["sha256"],
        "meta_sha256": ds.sha256,
    }
    if as_json:
        echo_json(summary)
        return
    click.echo(f"dataset {ds.name}: {summary['rows']} rows, {len(ds.feature_names)} features, {len(ds.class_names)} classes -> {ds.dir}")
    click.echo(f"  classes  {', '.join(f'{c} ({n})' for c, n in zip(ds.class_names, summary['class_counts']))}")
    click.echo(f"  split    {summary['train_rows']} train / {summary['test_rows']} test (stratified, seed {seed})")
    click.echo(f"  source   sha256 {summary['source_sha256']}")
