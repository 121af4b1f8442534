#!/usr/bin/env python3
"""Convert a dataset into datastore/processed/<name>/ (the old script's name, kept for people who know it).

A thin wrapper over the library, which does the work for ``irisonnx data`` too:

    python datastore/scripts/download_and_convert_dataset.py                  # bundled Iris
    python datastore/scripts/download_and_convert_dataset.py --url URL        # download Iris first
    python datastore/scripts/download_and_convert_dataset.py --csv wine.csv --target class --name wine

``--url`` is checked against the sha256 pinned in irisonnx/data/datastore.py (IRIS_SHA256): wrong bytes
are refused (exit 3); no network falls back to the bundled copy. Errors print one line and
exit with irisonnx's codes (2 bad input, 3 corrupt artifact, 4 I/O failure).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DATASTORE = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", help="bundled Iris only: download it from URL first (verified against the pinned sha256)")
    ap.add_argument("--csv", help="a numeric classification CSV with a header row, instead of Iris")
    ap.add_argument("--target", help="label column of --csv")
    ap.add_argument("--name", help="dataset name for --csv (default: the file's stem)")
    ap.add_argument("--datastore", default=str(DATASTORE), help="datastore folder (default: %(default)s)")
    ap.add_argument("--test-fraction", type=float, default=0.2)
    ap.add_argument("--seed", type=int, default=42, help="seed of the stratified split (default: %(default)s)")
    args = ap.parse_args(argv)

    from irisonnx.data import datastore as data
    from irisonnx.errors import IrisOnnxError, UsageError

    try:
        if args.csv:
            if not args.target:
                raise UsageError("--csv needs --target", "name the label column")
            if args.url:
                raise UsageError("--url works only for the bundled Iris", "drop --csv or --url")
            text = data.read_source_csv(args.csv)
            ds = data.convert(
                text,
                name=args.name or Path(args.csv).stem,
                target=args.target,
                source_name=Path(args.csv).name,
                datastore=args.datastore,
                test_fraction=args.test_fraction,
                seed=args.seed,
            )
        else:
            if args.target or args.name:
                raise UsageError("--target and --name need --csv", "without --csv the bundled Iris is converted")
            # iris_text + convert is what convert_iris does; called apart so that we can say
            # whether the download or the bundled copy was used (tests keep them in step).
            text, origin = data.iris_text(args.datastore, url=args.url)
            if args.url and origin != args.url:
                print(f"download_and_convert_dataset: {args.url} unreachable; using the bundled copy {origin}", file=sys.stderr)
            ds = data.convert(
                text,
                name="iris",
                target="species",
                source_name="iris.csv",
                datastore=args.datastore,
                test_fraction=args.test_fraction,
                seed=args.seed,
                feature_units=data.IRIS_FEATURE_UNITS,
            )
    except IrisOnnxError as exc:
        print(f"download_and_convert_dataset: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:
        print(f"download_and_convert_dataset: error: I/O failure: {exc}", file=sys.stderr)
        return 4
    print(f"{ds.name}: {ds.meta['n_rows']} rows, {ds.meta['n_features']} features, {ds.meta['n_classes']} classes -> {ds.dir}")
    print(f"source {ds.meta['source']['name']} sha256 {ds.meta['source']['sha256']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
