"""Errors and warnings that geoadapters raises on purpose.

Every error derives from `GeoAdaptersError` and from the builtin that fits, so `except ValueError`
keeps working for callers who do not know this package. The CLI turns a `GeoAdaptersError` into a
one-line message and exit code 1. This module imports nothing heavy.

A message that tells how to fix something names the option that does it as a marker, the option's
name in backticks (`` `bands` ``), which each surface renders as its own control: the Python parameter
(`PYTHON`, what ``str()`` of an error or warning gives), the command's flag (`geoadapters.cli`), the
demo's control. `template` is the message with its markers, for a surface to render.
"""

import contextlib
import re
from collections.abc import Iterator, Mapping

__all__ = [
    "PYTHON",
    "AdapterError",
    "BandError",
    "CheckpointError",
    "ConversionError",
    "DeviceError",
    "GeoAdaptersError",
    "GeoAdaptersWarning",
    "HubUnreachableError",
    "InputShapeError",
    "MissingDependencyError",
    "NewBandWarning",
    "OptionError",
    "OutputError",
    "OutputExistsError",
    "PartialError",
    "RasterError",
    "ResourceError",
    "UnknownNameError",
    "WeightsNotFoundError",
    "needs_torch",
    "one_line",
    "render",
]

# The controls of the Python API, by option marker.
PYTHON: Mapping[str, str] = {
    "bands": "bands=",
    "scale": "scale=",
    "nodata": "nodata=",
    "dates": "metadata=SceneMetadata(dates=...)",
    "frames": "a list of the frames' files",
    "overwrite": "overwrite=True",
    "checkpoint": "checkpoint=",
    "tile_size": "tile_size=",
    "batch_size": "batch_size=",
    "memory_budget": "memory_budget_gb=",
    "runtime_onnx": "runtime='onnx'",
    "resample": "resample=True",
}
_MARKER = re.compile(r"`(\w+)`")


def render(template: str, controls: Mapping[str, str]) -> str:
    """A message with its option markers (`` `bands` ``) as the controls of one surface."""
    return _MARKER.sub(lambda m: controls.get(m.group(1), m.group(0)), template)


class GeoAdaptersError(Exception):
    """Base of every error geoadapters raises on purpose."""

    @property
    def template(self) -> str:
        """The message with its option markers, for a surface to render (`render`)."""
        return str(self.args[0]) if self.args else ""

    def __str__(self) -> str:
        return render(self.template, PYTHON)


class UnknownNameError(GeoAdaptersError, LookupError):
    """A base model, adapter, method or head name that is not in the catalog."""


class BandError(GeoAdaptersError, ValueError):
    """Unknown band names, or bands that a model needs and an input does not have."""


class InputShapeError(GeoAdaptersError, ValueError):
    """A tensor whose shape does not fit the model (band count, frames, size)."""


class CheckpointError(GeoAdaptersError, ValueError):
    """A weights file that is unreadable, truncated, or does not match the architecture."""


class WeightsNotFoundError(GeoAdaptersError, FileNotFoundError):
    """Weights that are neither on disk nor in the cache, and cannot be downloaded."""


class HubUnreachableError(WeightsNotFoundError):
    """Files that are not in the cache while the Hub cannot be reached: whether they exist is unknown."""


class AdapterError(GeoAdaptersError, ValueError):
    """An adapter folder that is incomplete, corrupt, or made for another base model."""


class ConversionError(GeoAdaptersError, ValueError):
    """A model from another tool (a TerraTorch config and checkpoint) that cannot be converted."""


class OptionError(GeoAdaptersError, ValueError):
    """An option that does not fit the adapter (dates not one per frame, say) or is out of range."""


class RasterError(GeoAdaptersError, ValueError):
    """A raster that cannot be read or predicted on (no CRS, empty, corrupt, all nodata...)."""


class PartialError(RasterError):
    """Some scenes of a batch failed while the others finished; the command exits with code 3."""


class ResourceError(GeoAdaptersError, MemoryError):
    """An adapter or scene that would need more memory than allowed (or than the machine has)."""


class OutputExistsError(GeoAdaptersError, FileExistsError):
    """An output path that exists already, without permission to overwrite it."""


class OutputError(GeoAdaptersError, OSError):
    """An output that cannot be written where asked: a read-only folder, a path below a file, a long name."""


class MissingDependencyError(GeoAdaptersError, ImportError):
    """An optional dependency that a feature needs is not installed; the message names the extra.

    Args:
        feature: What needs it ("LoRA", "ONNX export").
        extra: The pip extra of geoadapters that installs it.
    """

    def __init__(self, feature: str, extra: str) -> None:
        super().__init__(f"{feature} needs the {extra!r} extra: pip install 'geoadapters[{extra}]'")
        self.feature = feature
        self.extra = extra

    def __reduce__(self) -> tuple[type["MissingDependencyError"], tuple[str, str]]:
        return type(self), (self.feature, self.extra)  # pickled with its arguments, not its message


# What the `torch` extra installs: a ModuleNotFoundError naming one of these is its absence.
_TORCH_MODULES = ("torch", "timm", "torchvision")


@contextlib.contextmanager
def needs_torch(feature: str) -> Iterator[None]:
    """Turn an import inside the block that finds no PyTorch into a `MissingDependencyError` (``torch``).

    `feature` names what needs it, and PyTorch ("geoadapters export (PyTorch)").

    The predict-only install (``geoadapters[cpu]``) has no torch: building models from adapter
    folders, export, conversion and training say so in one line.
    """
    try:
        yield
    except ModuleNotFoundError as err:
        if (err.name or "").split(".")[0] in _TORCH_MODULES:
            raise MissingDependencyError(feature, extra="torch") from err
        raise


class DeviceError(GeoAdaptersError, RuntimeError):
    """A device, precision or runtime that is unknown or that this machine does not have."""


class GeoAdaptersWarning(UserWarning):
    """Base of the warnings geoadapters emits; filter them by class. Messages render as errors do."""

    @property
    def template(self) -> str:
        """The message with its option markers."""
        return str(self.args[0]) if self.args else ""

    def __str__(self) -> str:
        return render(self.template, PYTHON)


class NewBandWarning(GeoAdaptersWarning):
    """Bands the pretrained weights have never seen; their patch weights start random."""


def one_line(problem: Warning | BaseException | str) -> str:
    """An error's or warning's message on one line, with its option markers for a surface to render."""
    text = problem.template if isinstance(problem, GeoAdaptersError | GeoAdaptersWarning) else str(problem)
    return " ".join(text.split())
