"""``python -m training fit|validate|test|predict``: LightningCLI with the recipe's task and data module.

Everything is LightningCLI's: ``--config RECIPE``, dotted overrides (``--data.root DIR``,
``--trainer.max_epochs 1``, ``--model.pretrained false``), ``--print_config``, ``--trainer.devices``
/ ``strategy`` / ``precision``, ``--seed_everything``. Two keys are ours:

- ``--output DIR``: the adapter folder to write (``fit``: default
  ``adapters/<base>-<dataset>-<method>``; ``test``: written only when given).
- ``--overwrite true``: replace an existing folder (checked before training starts).

``--model.adapter REF`` starts from an adapter (any reference `geoadapters.references` resolves, with
the same one-line error when it resolves to nothing) for the recipe's base: its method, head, their
settings, base overrides and tiling come from the adapter's own ``geoadapter.json``, not from the
recipe, so ``test --config RECIPE --model.adapter FOLDER`` tests the adapter as it was trained.

At the end of ``fit`` the best checkpoint (by validation loss) is tested on every test set of the
dataset and written as an adapter folder with its metrics and provenance (`training.publish`).
Lightning's logs and checkpoints go to ``<output>-runs`` beside the adapter folder (a temporary folder
when nothing is written), unless ``--trainer.default_root_dir`` says otherwise. A bad argument, or one
our classes refuse, is one line and exit code 2 (1 for errors of the run itself).
"""

import argparse
import atexit
import logging
import re
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

from geoadapters._staging import check_overwrite
from geoadapters.errors import GeoAdaptersError
from geoadapters.references import resolve_adapter
from training.datamodule import DatasetInfo, GeoDataModule
from training.publish import provenance, write_folder
from training.tasks.base import GeoTask, adapter_name

__all__ = ["SUBCOMMANDS", "GeoCLI", "run_cli"]

SUBCOMMANDS = ("fit", "validate", "test", "predict")


def _info(data: GeoDataModule) -> DatasetInfo:
    return data.info


class GeoCLI(LightningCLI):
    """LightningCLI over any `GeoTask` and `GeoDataModule` (given by ``class_path`` in recipes)."""

    def __init__(self, args: list[str] | None) -> None:
        self.argv = list(sys.argv[1:] if args is None else args)
        self.started = time.monotonic()
        super().__init__(
            GeoTask,
            GeoDataModule,
            subclass_mode_model=True,
            subclass_mode_data=True,
            save_config_kwargs={"overwrite": True},
            parser_kwargs={"prog": "python -m training", "exit_on_error": False},
            args=args,
        )

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        """``--output``, ``--overwrite``, and the link of the data module's `DatasetInfo` into the task."""
        parser.link_arguments("data", "model.init_args.dataset", compute_fn=_info, apply_on="instantiate")
        parser.add_argument(
            "--output", type=Path | None, default=None, help="Adapter folder to write at the end."
        )
        parser.add_argument("--overwrite", type=bool, default=False, help="Replace an existing --output.")

    def before_instantiate_classes(self) -> None:
        """Resolve ``--model.adapter`` and take the model half of the config from the adapter's file.

        Here, before LightningCLI builds the task, a reference that resolves to nothing is one
        geoadapters error, not a report of every class the parser tried.
        """
        model = self._config.get("model")
        args = model.get("init_args") if model is not None else None
        reference = args.get("adapter") if args is not None else None
        if reference:
            self._from_adapter(args, reference)
        trainer = self._config.trainer
        if trainer.get("default_root_dir") is None:  # Lightning's logs and checkpoints: beside the output
            output = self.output()
            if output is not None:
                trainer.default_root_dir = str(output.parent / f"{output.name}-runs")
            else:  # nothing to keep
                trainer.default_root_dir = tempfile.mkdtemp(prefix="geoadapters-runs-")
                atexit.register(shutil.rmtree, trainer.default_root_dir, ignore_errors=True)

    def instantiate_classes(self) -> None:
        """Build the task, data module and trainer; our own classes' errors surface as themselves.

        jsonargparse reports a failed instantiation as the list of every class it tried; the error of
        ours at the bottom of it (a bad method name, a test set the dataset lacks) is the one line.
        """
        try:
            super().instantiate_classes()
        except (ValueError, TypeError) as err:
            own = _own_error(err)
            if own is None:
                raise
            raise own from None

    def _from_adapter(self, args: Any, reference: str) -> None:
        """The model half of the config, and the data's bands, from the adapter `reference` names."""
        source = resolve_adapter(reference, args.get("base"))  # the recipe's base: its data's bands
        config = source.config
        data = self._config.data.init_args
        data.base, data.bands = None, list(config.input.bands)
        values = {
            "adapter": str(source.folder("training")),
            "base": config.base.name,
            "method": config.method.name,
            "head": config.head.name,
            "method_settings": config.method.to_dict(),
            "head_settings": config.head.to_dict(),
            "overrides": dict(config.base.overrides),
            "pretrained": config.base.pretrained,
            "name": config.name or None,
            "inference": config.inference.to_dict(),
        }
        for key, value in values.items():
            args[key] = value

    @property
    def _config(self) -> Any:
        return self.config[self.subcommand] if self.subcommand else self.config

    def output(self) -> Path | None:
        """The folder to write: ``--output``, or for ``fit`` the adapter's Hub-style name under adapters/."""
        given = self._config.get("output")
        if given is not None:
            return Path(given)
        if self.subcommand != "fit":
            return None
        model, data = self._config.model.init_args, self._config.data.init_args
        name = adapter_name(model.get("name"), data.dataset, model.method, model.head)
        return Path("adapters") / f"{model.base}-{name}"

    def before_fit(self) -> None:
        """Refuse an existing output before hours of training, not after."""
        output = self.output()
        if output is not None:
            check_overwrite(output, bool(self._config.get("overwrite")))
        self.started = time.monotonic()

    before_test = before_fit

    def after_fit(self) -> None:
        """Test the best checkpoint on every test set, then write the adapter folder."""
        if self.trainer.interrupted:
            return
        checkpoint = self.trainer.checkpoint_callback
        best = "best" if checkpoint is not None and getattr(checkpoint, "best_model_path", None) else None
        self.trainer.test(self.model, datamodule=self.datamodule, ckpt_path=best, verbose=False)
        self._write()

    def after_test(self) -> None:
        """Write the tested adapter with its metrics when ``--output`` is given."""
        if self._config.get("output") is not None:
            self._write()

    def _write(self) -> None:
        task, data, output = self.model, self.datamodule, self.output()
        assert isinstance(task, GeoTask) and isinstance(data, GeoDataModule)
        if output is None:
            return
        recipes = [Path(str(p)) for p in self._config.get("config") or []]
        record = provenance(
            self.trainer,
            task,
            data,
            recipes=recipes,
            argv=self.argv,
            seed=self._config.get("seed_everything"),
            wall_seconds=time.monotonic() - self.started,
        )
        folder = write_folder(
            self.trainer,
            task,
            output,
            metrics=task.test_results,
            provenance=record,
            overwrite=bool(self._config.get("overwrite")),
        )
        if folder is not None:
            print(f"adapter folder: {folder}")


def _own_error(err: BaseException) -> GeoAdaptersError | None:
    """The geoadapters error behind `err`, if any (its causes and contexts)."""
    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, GeoAdaptersError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _usage_line(err: argparse.ArgumentError) -> str:
    """One line of jsonargparse's report of a bad argument: the key, and what was wrong with it."""
    text = str(err)
    key = ".".join(re.findall(r'Parser key "([^"]+)"', text)) or (err.argument_name or "").lstrip("-")
    found = re.search(r"Option '([^']+)' is not accepted", text)
    if found:
        return f"--{key}.{found.group(1)}: no such option"
    expected = re.search(r"Expected a <class '(\w+)'>", text)
    given = re.search(r"(?:Got value|Given value): (.*)", text)
    if expected:
        got = f", got {given.group(1).strip()!r}" if given else ""
        return f"--{key} takes a value of type {expected.group(1)}{got}"
    return " ".join(text.split())[:300]


def _quiet_lightning() -> None:
    """Silence what Lightning says that tells a user of these commands nothing; keep the rest."""
    logging.getLogger("lightning.fabric.utilities.seed").setLevel(logging.WARNING)  # "Seed set to N"
    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(
        lambda record: not record.getMessage().startswith("💡 Tip")  # an advertisement
    )
    for message in (
        r"Starting from v1\.9\.0, `tensorboardX` has been removed",  # its CSV logger is what we want
        r"The number of training batches \(\d+\) is smaller than the logging interval",  # tiny runs
        r"`isinstance\(treespec, LeafSpec\)` is deprecated",  # Lightning's own use of a torch API
        r"Total length of `DataLoader` across ranks is zero",  # an empty test set: GeoTask says which
    ):
        warnings.filterwarnings("ignore", message=message)


def run_cli(argv: list[str] | None = None) -> int:
    """Run one LightningCLI subcommand; ``--help`` and ``--print_config`` exit 0 after printing.

    `argv` None: the process's own arguments, which LightningCLI reads itself (so that DDP can start
    its other processes with them, and without its warning about arguments given twice). A bad
    argument is one line on stderr and exit code 2.
    """
    _quiet_lightning()
    try:
        GeoCLI(argv)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    except argparse.ArgumentError as err:
        print(f"error: {_usage_line(err)}", file=sys.stderr)
        return 2
    return 0
