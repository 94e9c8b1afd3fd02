"""The data commands of ``python -m training``: each adds its arguments and runs on parsed arguments.

A command returns its exit code: 0 when everything is in order, 1 when a check found problems (each
printed on one line to stderr). Library errors become one line and exit code 1 in `training.__main__`.
"""

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from tqdm import tqdm

from geoadapters.methods import list_methods
from training.datasets import get_dataset, list_datasets
from training.datasets.metadata import METADATA_KINDS

__all__ = [
    "add_data_check",
    "add_default_model",
    "add_download",
    "add_matrix",
    "add_prepare",
    "add_recipes",
    "add_sample_data",
    "add_splits_check",
]


def _problems(lines: list[str]) -> int:
    for line in lines:
        print(line, file=sys.stderr)
    return 1 if lines else 0


def add_download(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """``download NAME --root DIR``."""
    parser = commands.add_parser(
        "download",
        help="fetch a dataset from the Hugging Face Hub into DIR (others: where to get them)",
        description="Download and unpack burn_scars, m_cashew_plantation or m_sa_crop_type from the Hub; "
        "for sen1floods11 and reben, say where to get them and how to lay them out.",
    )
    parser.add_argument("name", choices=list_datasets())
    parser.add_argument("--root", type=Path, required=True, help="data root to fill")
    parser.add_argument("--revision", default="main", help="branch, tag or commit of the Hub repository")
    parser.set_defaults(run=_download)


def _download(args: argparse.Namespace) -> int:
    from training.download import download

    for folder in download(args.name, args.root, revision=args.revision):
        print(folder)
    return 0


def add_prepare(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """``prepare reben --root DIR``."""
    parser = commands.add_parser(
        "prepare",
        help="the paper's conversion step: merge reBEN's band files into S2_merged/",
        description="Merge the 12 band files of every reBEN patch in the split lists onto the 10 m grid "
        "(nearest), writing DIR/S2_merged/<patch>.tif; existing files are kept.",
    )
    parser.add_argument("name", choices=["reben"])
    parser.add_argument("--root", type=Path, required=True, help="reBEN root holding BigEarthNet-S2/")
    parser.add_argument("--splits", type=Path, help="folder of split lists to merge instead of the paper's")
    parser.set_defaults(run=_prepare)


def _prepare(args: argparse.Namespace) -> int:
    from training.prepare import prepare_reben

    report = prepare_reben(
        args.root,
        splits=args.splits,
        progress=lambda ids: tqdm(ids, desc="merging bands", unit="patch", disable=None, file=sys.stderr),
    )
    print(f"merged {report.merged} patches, kept {report.skipped} merged before, {len(report.errors)} failed")
    return _problems(report.errors)


def add_data_check(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """``data check NAME --root DIR``."""
    data = commands.add_parser("data", help="check a dataset on disk").add_subparsers(required=True)
    parser = data.add_parser(
        "check",
        help="read every sample of every split once and report what a model gets",
        description="Read every sample of every split once; report counts, bands, shapes, dtypes, label "
        "histograms and normalised value ranges. Unreadable files are listed by path (exit code 1).",
    )
    parser.add_argument("name", choices=list_datasets())
    parser.add_argument("--root", type=Path, required=True, help="the data root")
    bands = parser.add_mutually_exclusive_group()
    bands.add_argument("--base", help="read the pretraining bands of this base model (e.g. prithvi-300)")
    bands.add_argument("--bands", nargs="+", help="read these bands, in order")
    parser.add_argument(
        "--metadata", choices=METADATA_KINDS, default="no_metadata", help="derive this metadata"
    )
    parser.add_argument("--splits", type=Path, help="folder of split lists to read instead of the paper's")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(run=_data_check)


def _data_check(args: argparse.Namespace) -> int:
    from training.check import check_data, format_report

    bands = get_dataset(args.name).bands_for(args.base) if args.base else args.bands
    report = check_data(
        args.name,
        args.root,
        bands=tuple(bands) if bands else None,
        metadata=args.metadata,
        splits=args.splits,
        progress=lambda items, desc: tqdm(items, desc=desc, unit="sample", disable=None, file=sys.stderr),
    )
    print(json.dumps(report.to_json()) if args.json else format_report(report))
    return _problems(report.errors)


def add_splits_check(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """``splits check [NAME] [--root DIR]``."""
    splits = commands.add_parser("splits", help="check split lists").add_subparsers(required=True)
    parser = splits.add_parser(
        "check",
        help="disjoint splits, the paper's counts, ids resolvable in a root, chip overlaps",
        description="Check that splits are disjoint and have the paper's counts; with --root, that every "
        "id resolves to its files and (burn scars) that no chip of one split overlaps a chip of another.",
    )
    parser.add_argument(
        "name", nargs="?", choices=list_datasets(), help="one dataset; all with shipped lists if omitted"
    )
    parser.add_argument("--root", type=Path, help="data root to resolve the ids in (needs NAME)")
    parser.add_argument("--splits", type=Path, help="folder of split lists to check instead of the paper's")
    parser.add_argument("--json", action="store_true", help="print one JSON object per dataset")
    parser.set_defaults(run=_splits_check, parser=parser)


def _splits_check(args: argparse.Namespace) -> int:
    from training.split_check import check_splits

    if args.name is None and (args.root or args.splits):
        args.parser.error("--root and --splits need a dataset NAME")
    names = [args.name] if args.name else [n for n in list_datasets() if get_dataset(n).shipped_splits]
    problems = []
    for name in names:
        report = check_splits(name, root=args.root, splits=args.splits)
        if args.json:
            print(json.dumps(asdict(report)))
        else:
            counts = ", ".join(f"{split} {n}" for split, n in report.counts.items())
            paper = "/".join(str(n) for n in report.published.values())
            print(
                f"{name}: {counts}"
                + (f" (paper: {paper})" if paper else "")
                + (" ok" if not report.problems else "")
            )
        problems += [f"{name}: {line}" for line in report.problems]
    return _problems(problems)


def add_recipes(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """``recipes``."""
    parser = commands.add_parser(
        "recipes",
        help="list the paper's recipes, one config path per line",
        description="List the recipe files (`fit --config PATH`), one per line, relative to the "
        "working directory when they are under it.",
    )
    parser.set_defaults(run=_recipes)


def _recipes(args: argparse.Namespace) -> int:
    from training.recipes import list_recipes

    cwd = Path.cwd()
    for path in list_recipes():
        print(path.relative_to(cwd) if path.is_relative_to(cwd) else path)
    return 0


def add_matrix(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """``matrix --bases ... --datasets ... --methods ... --seeds N --data-root DIR --output DIR``."""
    parser = commands.add_parser(
        "matrix",
        help="reproduce cells of the paper's table: train, test, compare",
        description="Train every cell base x dataset x method of the paper's matrix once per seed (each "
        "in its own `fit` process), collect the test metrics into OUTPUT/results.csv in the columns of "
        "the paper's results, and print ours beside the paper's mean ± std. Arguments after `--` are "
        "passed to every `fit` (e.g. -- --trainer.devices 2).",
    )
    parser.add_argument("--bases", nargs="+", required=True)
    parser.add_argument("--datasets", nargs="+", required=True, choices=list_datasets())
    parser.add_argument("--methods", nargs="+", required=True, choices=list_methods())
    parser.add_argument("--seeds", type=int, default=5, help="runs per cell, seeds 0..N-1 (the paper: 5)")
    parser.add_argument("--data-root", type=Path, required=True, help="folder holding one root per dataset")
    parser.add_argument("--output", type=Path, required=True, help="folder for adapters and results.csv")
    parser.add_argument("overrides", nargs=argparse.REMAINDER, help="-- then LightningCLI overrides")
    parser.set_defaults(run=_matrix)


def _matrix(args: argparse.Namespace) -> int:
    from training.matrix import Cell, run_matrix

    overrides = args.overrides[1:] if args.overrides[:1] == ["--"] else args.overrides
    cells = [Cell(b, d, m) for b in args.bases for d in args.datasets for m in args.methods]
    results = run_matrix(
        cells, seeds=args.seeds, data_root=args.data_root, output=args.output, overrides=overrides
    )
    print(results)
    return 0


def add_default_model(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """``default-model [--root DIR] [--output DIR] [--overwrite]``."""
    parser = commands.add_parser(
        "default-model",
        help="retrain the bundled offline model from the repository's chip (training/offline.py)",
        description="Cut the Sen1Floods11 chip of demo/examples into 128 px blocks written as a "
        "Sen1Floods11 root with a spatial hold-out (top half trains, bottom-left quadrant validates, "
        "bottom-right quadrant tests), then `fit` training/recipes/offline/sen1floods11-tiny.yaml on it "
        "and write the adapter folder with its held-out metrics. Arguments after `--` go to `fit`.",
    )
    parser.add_argument(
        "--root", type=Path, default=Path("data/sen1floods11-chip"), help="data root to write"
    )
    parser.add_argument(
        "--output", type=Path, help="adapter folder to write (default: the bundled geoadapters/default/...)"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --output")
    parser.add_argument("overrides", nargs=argparse.REMAINDER, help="-- then LightningCLI overrides")
    parser.set_defaults(run=_default_model)


def _default_model(args: argparse.Namespace) -> int:
    from training.offline import OUTPUT, train_default

    overrides = args.overrides[1:] if args.overrides[:1] == ["--"] else args.overrides
    return train_default(args.root, args.output or OUTPUT, overwrite=args.overwrite, extra=overrides)


def add_sample_data(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """``sample-data --root DIR``."""
    parser = commands.add_parser(
        "sample-data",
        help="write the repository's labelled Sentinel-2 chip as a small Sen1Floods11 root, for smoke runs",
        description="Cut the Sen1Floods11 chip of demo/examples (Spain_7370579) into 128 px blocks written "
        "in the Sen1Floods11 v1.1 layout under DIR, with split lists in DIR/splits (8 train, 4 val and 4 "
        "test blocks; the Bolivia list is empty): a root for `fit --data.root DIR --data.splits DIR/splits`.",
    )
    parser.add_argument("--root", type=Path, required=True, help="the data root to write")
    parser.set_defaults(run=_sample_data)


def _sample_data(args: argparse.Namespace) -> int:
    from training.offline import prepare_root

    splits = prepare_root(args.root)
    print(f"{args.root}: a Sen1Floods11 v1.1 root; its split lists are in {splits}")
    return 0
