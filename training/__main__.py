"""``python -m training COMMAND``: the entry point of the training package.

A thin dispatcher: ``fit``, ``validate``, ``test`` and ``predict`` go to LightningCLI
(`training.cli`); every other command adds its own subparser (`training.commands`) and returns an
exit code. Errors geoadapters or training raise on purpose become one line on stderr and exit code
1; usage errors exit 2.
"""

import argparse
import sys

from geoadapters import GeoAdaptersError
from geoadapters.cli.main import stdout_closed
from training.commands import (
    add_data_check,
    add_default_model,
    add_download,
    add_matrix,
    add_prepare,
    add_recipes,
    add_sample_data,
    add_splits_check,
)

__all__ = ["main"]

_COMMANDS = (
    add_download,
    add_prepare,
    add_data_check,
    add_splits_check,
    add_recipes,
    add_matrix,
    add_default_model,
    add_sample_data,
)
# Run by LightningCLI, which parses their arguments itself.
_LIGHTNING = {
    "fit": "train from a recipe: fit --config RECIPE [--data.root DIR ...] (LightningCLI)",
    "validate": "validate a model (LightningCLI)",
    "test": "test a checkpoint or an adapter on every test set (LightningCLI)",
    "predict": "predict the test sets (LightningCLI)",
}


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one subcommand per entry of `_COMMANDS`."""
    parser = argparse.ArgumentParser(
        prog="python -m training",
        description="Datasets and retraining for geoadapters (run from a checkout).",
    )
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")
    for name, help in _LIGHTNING.items():
        commands.add_parser(name, help=help, add_help=False)
    for add in _COMMANDS:
        add(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command and return its exit code."""
    given = None if argv is None else list(argv)
    argv = sys.argv[1:] if given is None else given
    try:
        if argv and argv[0] in _LIGHTNING:
            from training.cli import run_cli

            return run_cli(given)
        args = build_parser().parse_args(argv)
        return int(args.run(args))
    except GeoAdaptersError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return stdout_closed()


if __name__ == "__main__":
    code = main()
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        code = stdout_closed()
    sys.exit(code)
