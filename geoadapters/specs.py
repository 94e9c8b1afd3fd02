"""What a base model is, as data: architecture, weights on the Hub, and its input contract.

Plain frozen dataclasses (no torch), so the catalog, the CLI listing and adapter configs can use them
without importing model code. `geoadapters.models` turns a `BaseSpec` into an `Encoder` of its family
(`geoadapters.families`). The input contract and the architectures are schema dataclasses
(`geoadapters._serde.SCHEMA`): an architecture's annotations bound its fields, so that an adapter file
that overrides them cannot make the process allocate without limit.
"""

import dataclasses
import datetime
import re
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal, Protocol

from pydantic import Field, ValidationError
from pydantic.dataclasses import dataclass as schema

from geoadapters._serde import SCHEMA, Settings, explain
from geoadapters.bands import canonical_bands

__all__ = [
    "SCENE_METADATA",
    "Arch",
    "BaseSpec",
    "ClayArch",
    "HubFile",
    "InputSpec",
    "PrithviArch",
    "ResNetArch",
    "SceneMetadata",
    "check_repo_id",
    "check_revision",
]

# Hub revisions and names are untrusted text (geoadapter.json, references): they end up in URLs and in
# paths of the Hugging Face cache. A revision is a 40-hex commit or a plain branch/tag name: no slash (so
# no refs/pr/N, which anyone can open on a public repository), no "..", nothing but [A-Za-z0-9._-].
_COMMIT = re.compile(r"[0-9a-f]{40}")
_PLAIN_REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
# org/name as the Hub allows them: ASCII letters, digits, "-", "_", "."; at most 96 characters each.
_REPO_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}")
_FILE_PART = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,199}")


def check_revision(revision: str) -> str:
    """`revision` if it is a 40-hex commit id or a plain branch or tag name.

    Raises:
        ValueError: Anything else (slashes, "..", spaces, unicode, over 100 characters...).
    """
    if not isinstance(revision, str) or not (
        _COMMIT.fullmatch(revision) or (_PLAIN_REF.fullmatch(revision) and ".." not in revision)
    ):
        raise ValueError(
            f"revision {str(revision)[:100]!r} is neither a 40-hex commit id nor a plain branch or tag "
            "name (letters, digits, '.', '_', '-')"
        )
    return revision


def check_repo_id(repo_id: str) -> str:
    """`repo_id` if it is a Hub repository id ``org/name``.

    Raises:
        ValueError: Not two parts of ASCII letters, digits, '.', '_' and '-' (96 characters at most each).
    """
    parts = repo_id.split("/") if isinstance(repo_id, str) else []
    if len(parts) != 2 or not all(_REPO_PART.fullmatch(p) and ".." not in p for p in parts):
        raise ValueError(
            f"{str(repo_id)[:100]!r} is no Hub repository id (org/name: ASCII letters, digits, '.', '_', "
            "'-', 96 characters at most each)"
        )
    return repo_id


@dataclass(frozen=True)
class SceneMetadata:
    """What a scene says about where and when it was taken, which some models condition on.

    Attributes:
        dates: Acquisition date of each frame (one for single-date scenes); empty if unknown.
        lat: Latitude of the scene's centre in degrees, if known.
        lon: Longitude of the scene's centre in degrees, if known.
        gsd: Pixel size in metres, if known.
    """

    dates: tuple[datetime.date, ...] = ()
    lat: float | None = None
    lon: float | None = None
    gsd: float | None = None

    def only(self, metadata: tuple[str, ...] | None) -> "SceneMetadata":
        """This metadata with only the kinds in `metadata` (None: all); the GSD is always kept."""
        if metadata is None:
            return self
        dates = self.dates if "time" in metadata else ()
        lat, lon = (self.lat, self.lon) if "location" in metadata else (None, None)
        return SceneMetadata(dates, lat, lon, self.gsd)


@dataclass(frozen=True)
class HubFile:
    """One file in a Hugging Face Hub repository.

    Attributes:
        repo_id: ``org/name`` of the model repository.
        filename: Path of the file inside the repository.
        revision: Branch, tag or commit id; a 40-hex commit id pins the exact bytes.
    """

    repo_id: str
    filename: str
    revision: str = "main"

    def __post_init__(self) -> None:
        check_repo_id(self.repo_id)
        check_revision(self.revision)
        parts = self.filename.split("/") if isinstance(self.filename, str) else []
        if not parts or not all(_FILE_PART.fullmatch(p) and ".." not in p for p in parts):
            raise ValueError(f"{str(self.filename)[:100]!r} is no plain file path inside a Hub repository")


# Scene metadata that models condition on (`SceneMetadata`): the acquisition date, the centre coordinates.
SCENE_METADATA = ("time", "location")
_MAX_BANDS = 256
_Metadata = Annotated[str, Field(pattern="^(time|location)$")]  # one of SCENE_METADATA

_Positive = Annotated[float, Field(gt=0)]
_Stats = Annotated[tuple[float, ...], Field(min_length=1, max_length=_MAX_BANDS)]
# An architecture's sizes: positive and at most the bound, rates in [0, 1].
_Rate = Annotated[float, Field(ge=0, le=1)]


@schema(frozen=True, config=SCHEMA)
class InputSpec(Settings):
    """Bands a model reads, in order, and how raw values become its input: ``(raw * scale - mean) / std``.

    Attributes:
        bands: Canonical band names (see `geoadapters.bands`), in the order the model expects.
        mean: Per-band mean of the scaled values.
        std: Per-band standard deviation of the scaled values.
        units: What the scaled values are, e.g. "reflectance x 10000".
        scale: Factor from stored values to `units` (0.0001 for Sentinel-2 digital numbers to
            reflectance); 1 when the data are in `units` already.
        nodata: Stored value that marks missing pixels, if the data have one.
        gsd: Ground sample distance in metres (Clay conditions on it).
        nodata_fill: Stored value that nodata pixels take before scaling and normalising (TerraTorch's
            ``no_data_replace``); None gives them each band's mean, which normalises to 0.
        metadata: Scene metadata the model was trained with and is given at inference: ``time``
            (acquisition date) and/or ``location`` (centre latitude and longitude), for the -TL models
            and Clay. None: whatever its encoder takes (adapters that do not record it).
        value_range: The range of stored values the model was trained on (before `scale`), e.g.
            ``(0, 10000)`` for reflectance x 10000; a scene far outside it gets a warning
            (`geoadapters.raster.metadata.value_range_warning`). None: not recorded.
    """

    bands: Annotated[
        tuple[Annotated[str, Field(max_length=64)], ...], Field(min_length=1, max_length=_MAX_BANDS)
    ]
    mean: _Stats
    std: Annotated[tuple[_Positive, ...], Field(min_length=1, max_length=_MAX_BANDS)]
    units: Annotated[str, Field(max_length=200)] = ""
    scale: _Positive = 1.0
    nodata: float | None = None
    gsd: _Positive | None = None
    nodata_fill: float | None = None
    metadata: Annotated[tuple[_Metadata, ...], Field(max_length=2)] | None = None
    value_range: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if self.value_range is not None and not self.value_range[0] < self.value_range[1]:
            raise ValueError(f"value_range must be (low, high) with low < high, got {self.value_range!r}")
        object.__setattr__(self, "bands", canonical_bands(self.bands))
        if not len(self.bands) == len(self.mean) == len(self.std):
            raise ValueError(f"{len(self.bands)} bands but {len(self.mean)} means and {len(self.std)} stds")

    def select(self, bands: tuple[str, ...] | list[str]) -> "InputSpec":
        """The spec for another band list; bands unknown here get mean 0 and std 1."""
        wanted = canonical_bands(bands)
        stats = dict(zip(self.bands, zip(self.mean, self.std, strict=True), strict=True))
        mean = tuple(stats.get(b, (0.0, 1.0))[0] for b in wanted)
        std = tuple(stats.get(b, (0.0, 1.0))[1] for b in wanted)
        return dataclasses.replace(self, bands=wanted, mean=mean, std=std)


# Tokens of a ViT's position grid (frames x (img_size / patch_size)^2): 16 frames of 1024 px at 16 px.
MAX_TOKENS = 1 << 16


def _vit_tokens(frames: int, img_size: int, patch_size: int) -> None:
    tokens = frames * (img_size // patch_size) ** 2
    if tokens > MAX_TOKENS:
        raise ValueError(f"the architecture has {tokens:,} position tokens; at most {MAX_TOKENS:,} allowed")


@schema(frozen=True, config=SCHEMA)
class PrithviArch:
    """Prithvi-EO encoder: a ViT with 3D patch and position embeddings (arXiv 2412.02732).

    Attributes:
        embed_dim: Token width.
        depth: Number of transformer blocks.
        num_heads: Attention heads per block.
        mlp_ratio: Hidden width of the block MLP over `embed_dim`.
        patch_size: Patch size in pixels (height = width).
        tubelet_size: Frames per patch along time.
        num_frames: Frames the model is built for (1 for single-date fine-tuning).
        img_size: Image size the position embedding is built for; other sizes interpolate it.
        coords_encoding: Metadata encoders of the -TL models: "time" and/or "location".
        coords_scale_learn: Whether the metadata encoders have a learned scale.
        drop_path: Stochastic depth rate for training.
    """

    embed_dim: Annotated[int, Field(ge=1, le=8192)]
    depth: Annotated[int, Field(ge=1, le=128)]
    num_heads: Annotated[int, Field(ge=1, le=256)]
    mlp_ratio: Annotated[float, Field(gt=0, le=16)] = 4.0
    patch_size: Annotated[int, Field(ge=1, le=64)] = 16
    tubelet_size: Annotated[int, Field(ge=1, le=16)] = 1
    num_frames: Annotated[int, Field(ge=1, le=64)] = 1
    img_size: Annotated[int, Field(ge=1, le=4096)] = 224
    coords_encoding: Annotated[tuple[_Metadata, ...], Field(max_length=2)] = ()
    coords_scale_learn: bool = False
    drop_path: _Rate = 0.0

    def __post_init__(self) -> None:
        _vit_tokens(self.num_frames, self.img_size, self.patch_size)

    @property
    def input_multiple(self) -> int:
        """Input sides must be multiples of it; shifts by it leave the output unchanged (the patch)."""
        return self.patch_size


@schema(frozen=True, config=SCHEMA)
class ClayArch:
    """Clay v1 encoder: a ViT whose patch embedding is generated from band wavelengths.

    Attributes:
        dim: Token width.
        depth: Number of transformer layers.
        heads: Attention heads.
        dim_head: Width of one head.
        mlp_ratio: Hidden width of the feed-forward over `dim`.
        patch_size: Patch size in pixels.
        wave_dim: Width of the wavelength embedding that generates patch weights.
        num_latent_tokens: Learned tokens of the weight generator.
        img_size: Image size the reference builds its position grid for.
        drop_path: Unused by Clay; kept so every arch takes the same training overrides.
    """

    dim: Annotated[int, Field(ge=1, le=8192)] = 768
    depth: Annotated[int, Field(ge=1, le=128)] = 12
    heads: Annotated[int, Field(ge=1, le=256)] = 12
    dim_head: Annotated[int, Field(ge=1, le=1024)] = 64
    mlp_ratio: Annotated[float, Field(gt=0, le=16)] = 4.0
    patch_size: Annotated[int, Field(ge=1, le=64)] = 8
    wave_dim: Annotated[int, Field(ge=1, le=4096)] = 128
    num_latent_tokens: Annotated[int, Field(ge=1, le=4096)] = 128
    img_size: Annotated[int, Field(ge=1, le=4096)] = 256
    drop_path: _Rate = 0.0

    def __post_init__(self) -> None:
        _vit_tokens(1, self.img_size, self.patch_size)

    @property
    def input_multiple(self) -> int:
        """Input sides must be multiples of it; shifts by it leave the output unchanged (the patch)."""
        return self.patch_size


@schema(frozen=True, config=SCHEMA)
class ResNetArch:
    """A timm ResNet used as a convolutional backbone (DeCUR).

    Attributes:
        timm_name: timm architecture name.
        out_indices: Stages whose feature maps `forward_features` returns (1..4).
        drop_path: Stochastic depth rate for training.
    """

    timm_name: Annotated[str, Field(max_length=100)] = "resnet50"
    out_indices: Annotated[tuple[Literal[1, 2, 3, 4], ...], Field(min_length=1, max_length=4)] = (1, 2, 3, 4)
    drop_path: _Rate = 0.0
    # Fields an adapter may not override: they choose another network than the base's.
    fixed: ClassVar[tuple[str, ...]] = ("timm_name",)

    @property
    def input_multiple(self) -> int:
        """Input sides must be multiples of it (the deepest stage's stride, 32)."""
        return 32


class Arch(Protocol):
    """What every architecture dataclass has: its fields, and the multiple input sides must be of.

    Each family (`geoadapters.families`) has one frozen schema dataclass of its hyper-parameters, whose
    annotations bound them (``Annotated[int, Field(ge=1, le=...)]``); a ``fixed`` class attribute names
    fields that adapters may not override.
    """

    __dataclass_fields__: ClassVar[dict[str, Any]]

    @property
    def input_multiple(self) -> int:
        """Input sides must be multiples of it; shifts by it leave the output unchanged."""
        ...


@dataclass(frozen=True)
class BaseSpec:
    """A base geospatial foundation model of the catalog.

    Attributes:
        name: Short user-facing name (``prithvi-300``).
        arch: Architecture hyper-parameters.
        weights: Official checkpoint on the Hub.
        input: Pretraining bands and normalisation.
        description: One line for listings.
        paper: Paper the weights come from.
        license: Licence of the weights.
    """

    name: str
    arch: Arch
    weights: HubFile
    input: InputSpec
    description: str = ""
    paper: str = ""
    license: str = ""

    def with_overrides(self, **overrides: Any) -> "BaseSpec":
        """A copy with architecture fields, bands or weights revision replaced.

        Raises:
            TypeError: An override that is no field of this architecture.
            ValueError: An override of the wrong type or out of its bounds (one line).
        """
        spec = self
        if "revision" in overrides:
            revision = overrides.pop("revision")
            if revision is not None:
                spec = dataclasses.replace(spec, weights=dataclasses.replace(spec.weights, revision=revision))
        if "bands" in overrides:
            bands = overrides.pop("bands")
            if bands is not None:
                spec = dataclasses.replace(spec, input=spec.input.select(bands))
        if overrides:
            names = {f.name for f in dataclasses.fields(spec.arch) if f.init}
            unknown = sorted(set(overrides) - names)
            if unknown:
                raise TypeError(
                    f"{spec.name} has no setting {', '.join(unknown)}; "
                    f"it takes {', '.join(sorted(names | {'bands', 'revision'}))}"
                )
            try:
                arch = dataclasses.replace(spec.arch, **overrides)
            except ValidationError as err:
                raise ValueError(f"{spec.name}: {explain(err)}") from None
            spec = dataclasses.replace(spec, arch=arch)
        return spec
