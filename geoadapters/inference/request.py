"""What a prediction run is asked to do: the model to load (`ModelRef`) and how to predict (`PredictOptions`).

Both are plain frozen data without torch: the command line builds them from its flags, Python callers
from keywords, and Dask ships them to workers, so a run is described the same way on every path.
"""

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from geoadapters._serde import finite
from geoadapters.config import memory_budget
from geoadapters.raster.outputs import PROBABILITY_DTYPES, VectorOptions
from geoadapters.specs import InputSpec, SceneMetadata

if TYPE_CHECKING:
    from geoadapters.inference.runners import Runner
    from geoadapters.references import AdapterSource

__all__ = ["RUNTIMES", "TTA_MODES", "ModelRef", "PredictOptions", "scale_factor"]

RUNTIMES = ("torch", "onnx")
# Test-time augmentation: the tile's flips (4 passes), or its dihedral transforms (8 passes).
TTA_MODES = ("flips", "d4")


def scale_factor(spec: InputSpec, scale: float | None) -> float:
    """What raw values are multiplied by before the adapter's scale: 1, or the ratio of a `scale` override."""
    return 1.0 if scale is None else scale / spec.scale


@dataclass(frozen=True)
class PredictOptions:
    """How scenes are predicted: tiling, outputs beside the class map, reading the input.

    Attributes:
        tile_size: Tile side; None: the adapter's.
        overlap: Overlap of neighbouring tiles (at most half a tile); None: the adapter's.
        batch_size: Tiles per forward pass; None: on a GPU as many as its free memory holds (at most
            64, `Runner.fitting_batch`), else the adapter's.
        probabilities: Also write ``<stem>_proba.tif`` beside the class map: one band per class.
        probability_dtype: ``uint8`` (percent, summing to 100 per pixel; nodata 255) or ``float32``
            (0 to 1; nodata NaN).
        metadata: Dates (one per frame), centre and GSD for models that take them (-TL, Clay); what
            is left unset is derived from the scene (`geoadapters.raster.metadata`).
        resample: Read a scene whose pixel size is over 1.5x off the adapter's GSD warped to that GSD;
            the outputs stay on the scene's grid.
        bands: File bands to use: numbers in the model's band order, or names of all the file's bands
            (`geoadapters.raster.read.resolve_bands`); None: from the band descriptions.
        scale: Factor from the file's values to the units the adapter normalises (replaces its
            ``input.scale``).
        nodata: The file's nodata value, overriding its metadata.
        geotiff_only: Open GeoTIFF (COG) inputs only; VRTs can make GDAL read any local file.
        memory_budget_gb: Most memory the model and a scene's buffers may take; None: `memory_budget`.
        uncertainty: Also write ``<stem>_uncertainty.tif``: 1 - the largest class probability (float32).
        tta: Average the class probabilities of each tile over its flips (``flips``: 4 model passes) or
            its 8 dihedral transforms (``d4``); None: one pass.
        vector_options: How the polygons of ``vector`` are cleaned (`VectorOptions`).
        areas: Also write ``<stem>_areas.csv`` and ``.json``: the ground area of each class.
        stac: Also write ``<stem>.stac.json``: a STAC Item of the outputs, their scene and model.

    Raises:
        ValueError: `scale` is no finite positive number, or an unknown dtype or TTA.
        OptionError: The budget is no number of GB that `geoadapters.config.memory_budget` takes.
    """

    tile_size: int | None = None
    overlap: int | None = None
    batch_size: int | None = None
    probabilities: bool = False
    probability_dtype: str = "uint8"
    metadata: SceneMetadata | None = None
    resample: bool = False
    bands: tuple[str, ...] | None = None
    scale: float | None = None
    nodata: float | None = None
    geotiff_only: bool = False
    memory_budget_gb: float | None = None
    uncertainty: bool = False
    tta: str | None = None
    vector_options: VectorOptions = dataclasses.field(default_factory=VectorOptions)
    areas: bool = False
    stac: bool = False

    def __post_init__(self) -> None:
        if self.metadata == SceneMetadata():  # nothing given: the same run as no metadata
            object.__setattr__(self, "metadata", None)
        if self.bands is not None:
            object.__setattr__(self, "bands", tuple(self.bands))
        if self.probability_dtype not in PROBABILITY_DTYPES:
            known = ", ".join(PROBABILITY_DTYPES)
            raise ValueError(f"probability_dtype must be one of {known}, got {self.probability_dtype!r}")
        if self.tta is not None and self.tta not in TTA_MODES:
            raise ValueError(f"tta must be one of {', '.join(TTA_MODES)} or None, got {self.tta!r}")
        if self.scale is not None:
            finite("scale", self.scale, positive=True)
        if self.memory_budget_gb is not None:
            memory_budget(self.memory_budget_gb)

    def replace(self, **changes: Any) -> "PredictOptions":
        """A copy with some options changed."""
        return dataclasses.replace(self, **changes)

    def identity(self) -> dict[str, object]:
        """The options as plain values, for the run identity of resumed outputs."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class ModelRef:
    """What a run loads: references, never a model object, so that a Dask worker can load it too.

    Attributes:
        adapter: Adapter reference (`geoadapters.references`), an exported ``.onnx`` file included.
        base: Catalog name of the base (needed for short names).
        checkpoint: Local copy of the official base checkpoint.
        base_revision: Hub revision of the official base weights.
        runtime: ``torch`` or ``onnx``; None: onnx for an ONNX file, else torch.
        device: ``cpu``, ``cuda``, ``cuda:N``; None for CUDA where it exists.
        precision: See `geoadapters.inference.runners.make_runner`.
        memory_budget_gb: Most memory the model may take.
    """

    adapter: str
    base: str | None = None
    checkpoint: str | None = None
    base_revision: str | None = None
    runtime: str | None = None
    device: str | None = None
    precision: str = "fp32"
    memory_budget_gb: float | None = None

    def resolve(self) -> "AdapterSource":
        """The adapter this names (`geoadapters.references.resolve_adapter`)."""
        from geoadapters.references import resolve_adapter

        return resolve_adapter(self.adapter, self.base)

    def pinned(self, source: "AdapterSource") -> "ModelRef":
        """This reference pinned to the files `source` resolved to, for workers to load the same."""
        return dataclasses.replace(self, adapter=source.pinned, base=source.base)

    def load(self, source: "AdapterSource | None" = None) -> "Runner":
        """The runner of this model, loaded now (from `source` when this reference resolved to it).

        Raises:
            GeoAdaptersError: The adapter does not resolve or load, or the runtime cannot run it.
        """
        from geoadapters.inference.runners import make_runner

        source = source or self.resolve()
        runtime = self.runtime or ("onnx" if source.kind == "onnx" else "torch")
        if source.kind == "onnx":
            return make_runner(source.path, runtime, self.device, self.precision)
        from geoadapters.errors import needs_torch

        with needs_torch(f"running {self.adapter} with PyTorch (an exported .onnx file runs without)"):
            from geoadapters.factory import load

        model = load(
            source, checkpoint=self.checkpoint, base_revision=self.base_revision,
            memory_budget_gb=self.memory_budget_gb, merged=True,  # for inference: LoRA folded in
        )  # fmt: skip
        return make_runner(model, runtime, self.device, self.precision)
