"""``python -m training COMMAND``: the entry point of the training package.

A thin dispatcher: each command adds its own subparser (`training.commands`) and returns an exit
code. Errors geoadapters or training raise on purpose become one line on stderr and exit code 1;
usage errors exit 2.
"""

import argparse
import sys

from geoadapters import GeoAdaptersError
from training.commands import add_data_check, add_download, add_prepare, add_splits_check

__all__ = ["main"]

_COMMANDS = (add_download, add_prepare, add_data_check, add_splits_check)


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one subcommand per entry of `_COMMANDS`."""
    parser = argparse.ArgumentParser(
        prog="python -m training",
        description="Datasets and retraining for geoadapters (run from a checkout).",
    )
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")
    for add in _COMMANDS:
        add(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command and return its exit code."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except GeoAdaptersError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
