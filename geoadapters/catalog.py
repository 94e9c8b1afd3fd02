"""The catalog of base models: a registry of `BaseSpec` entries and the official models in it.

Short names map to the official Hub repositories. Hyper-parameters and files follow TerraTorch's
``prithvi_cfgs`` (terratorch/models/backbones/prithvi_vit.py), Clay v1 base and torchgeo's DeCUR weights.
Revisions are "main" where no commit id of the official repository could be verified; pass
``revision=`` to `geoadapters.models.create_backbone` to pin one.
"""

from dataclasses import dataclass

from geoadapters._registry import Registry
from geoadapters.families import family_of, register_family
from geoadapters.specs import BaseSpec, ClayArch, HubFile, InputSpec, PrithviArch, ResNetArch

__all__ = [
    "PublishedModel",
    "find_published",
    "get_base",
    "list_models",
    "list_published",
    "register_base",
    "register_published",
]

_BASES: Registry[BaseSpec] = Registry("base model", "Run 'geoadapters list' to see them all.")

# The families of the catalog; each module holds its encoder, whose facts (checkpoint layout, LoRA
# targets, metadata) are its own.
register_family("prithvi", PrithviArch, "geoadapters.models.prithvi:PrithviViT")
register_family("clay", ClayArch, "geoadapters.models.clay:ClayEncoder")
register_family("resnet", ResNetArch, "geoadapters.models.resnet:ResNetEncoder")


def register_base(spec: BaseSpec) -> BaseSpec:
    """Add a base model to the catalog and return it.

    Raises:
        ValueError: A base of that name is registered already.
        UnknownNameError: Its architecture is of no registered family.
    """
    family_of(spec.arch)  # an architecture of no registered family is refused here, not when built
    return _BASES.register(spec.name, spec)


def get_base(name: str) -> BaseSpec:
    """The catalog entry of a base model.

    Raises:
        UnknownNameError: No base of that name; the message suggests close names.
    """
    return _BASES.get(name)


def list_models(family: str | None = None) -> list[str]:
    """Names of the registered base models, optionally of one family (prithvi, clay, resnet, ...)."""
    return [name for name, spec in _BASES.items() if family is None or family_of(spec.arch).name == family]


# --- Prithvi-EO ----------------------------------------------------------------------------------
# Pretraining bands of every Prithvi model: HLS B02, B03, B04, B8A/B05, B11/B06, B12/B07.
_HLS_BANDS = ("BLUE", "GREEN", "RED", "NIR_NARROW", "SWIR_1", "SWIR_2")
# Normalisation constants of TerraTorch prithvi_vit.py (units: HLS reflectance x 10000).
_HLS_V1 = InputSpec(
    _HLS_BANDS,
    mean=(775, 1081, 1229, 2497, 2204, 1611),
    std=(1282, 1270, 1399, 1368, 1292, 1155),
    units="HLS surface reflectance x 10000",
    value_range=(0, 10000),
)
_HLS_V2 = InputSpec(
    _HLS_BANDS,
    mean=(1087, 1342, 1433, 2734, 1958, 1363),
    std=(2248, 2179, 2178, 1850, 1242, 1049),
    units="HLS surface reflectance x 10000",
    value_range=(0, 10000),
)
_PRITHVI_PAPER_V1 = "Jakubik et al. 2023, arXiv 2310.18660"
_PRITHVI_PAPER_V2 = "Szwarcman et al. 2024, arXiv 2412.02732"
_TL = ("time", "location")


def _prithvi(name: str, repo: str, filename: str, arch: PrithviArch, *, v1: bool = False) -> BaseSpec:
    return register_base(
        BaseSpec(
            name=name,
            arch=arch,
            weights=HubFile(f"ibm-nasa-geospatial/{repo}", filename),
            input=_HLS_V1 if v1 else _HLS_V2,
            description=f"{repo}: {arch.embed_dim}-d, {arch.depth} blocks, "
            f"{arch.patch_size}px patches" + (", time + location encoders" if arch.coords_encoding else ""),
            paper=_PRITHVI_PAPER_V1 if v1 else _PRITHVI_PAPER_V2,
            license="apache-2.0",
        )
    )


_prithvi(
    "prithvi-100",
    "Prithvi-EO-1.0-100M",
    "Prithvi_EO_V1_100M.pt",
    PrithviArch(embed_dim=768, depth=12, num_heads=12),
    v1=True,
)
_prithvi(
    "prithvi-v2-tiny-tl",
    "Prithvi-EO-2.0-tiny-TL",
    "Prithvi_EO_V2_tiny_TL.pt",
    PrithviArch(embed_dim=192, depth=12, num_heads=3, coords_encoding=_TL, coords_scale_learn=True),
)
_prithvi(
    "prithvi-v2-100-tl",
    "Prithvi-EO-2.0-100M-TL",
    "Prithvi_EO_V2_100M_TL.pt",
    PrithviArch(embed_dim=768, depth=12, num_heads=12, coords_encoding=_TL, coords_scale_learn=True),
)
_prithvi(
    "prithvi-300",
    "Prithvi-EO-2.0-300M",
    "Prithvi_EO_V2_300M.pt",
    PrithviArch(embed_dim=1024, depth=24, num_heads=16),
)
_prithvi(
    "prithvi-300-tl",
    "Prithvi-EO-2.0-300M-TL",
    "Prithvi_EO_V2_300M_TL.pt",
    PrithviArch(embed_dim=1024, depth=24, num_heads=16, coords_encoding=_TL, coords_scale_learn=True),
)
_prithvi(
    "prithvi-600",
    "Prithvi-EO-2.0-600M",
    "Prithvi_EO_V2_600M.pt",
    PrithviArch(embed_dim=1280, depth=32, num_heads=16, patch_size=14),
)
_prithvi(
    "prithvi-600-tl",
    "Prithvi-EO-2.0-600M-TL",
    "Prithvi_EO_V2_600M_TL.pt",
    PrithviArch(
        embed_dim=1280, depth=32, num_heads=16, patch_size=14, coords_encoding=_TL, coords_scale_learn=True
    ),
)

# --- Clay v1 -------------------------------------------------------------------------------------
# Sentinel-2 L2A statistics and GSD (10 m) of Clay's configs/metadata.yaml (units: reflectance x 10000):
# Clay conditions on the GSD, so its contract carries one (GeoModel passes it; the encoder alone
# keeps the reference's default of 1.0).
register_base(
    BaseSpec(
        name="clay-v1",
        arch=ClayArch(),
        weights=HubFile("made-with-clay/Clay-legacy", "v1/clay-v1-base.ckpt"),
        input=InputSpec(
            (
                "BLUE",
                "GREEN",
                "RED",
                "RED_EDGE_1",
                "RED_EDGE_2",
                "RED_EDGE_3",
                "NIR_BROAD",
                "NIR_NARROW",
                "SWIR_1",
                "SWIR_2",
            ),
            mean=(1105, 1355, 1552, 1887, 2422, 2630, 2743, 2785, 2388, 1835),
            std=(1809, 1757, 1888, 1870, 1732, 1697, 1742, 1648, 1470, 1379),
            units="Sentinel-2 L2A reflectance x 10000",
            value_range=(0, 10000),
            gsd=10,
        ),
        description="Clay v1 base: 768-d, 12 layers, 8px patches generated from band wavelengths",
        paper="Clay Foundation Model v1 (made-with-clay.github.io)",
        license="apache-2.0",
    )
)

# --- DeCUR ---------------------------------------------------------------------------------------
# torchgeo ResNet50_Weights.SENTINEL2_ALL_DECUR: 13 Sentinel-2 L1C bands, normalised by /10000.
register_base(
    BaseSpec(
        name="decur-s2",
        arch=ResNetArch(),
        weights=HubFile(
            "torchgeo/decur",
            "rn50_ssl4eo-s12_ms_decur_ep100-fc6b09ff.pth",
            revision="eba7ae5945d482a4319be046d34b552db5dd9950",
        ),
        input=InputSpec(
            tuple(
                f"B{i}"
                for i in ("01", "02", "03", "04", "05", "06", "07", "08", "8A", "09", "10", "11", "12")
            ),
            mean=(0.0,) * 13,
            std=(10000.0,) * 13,
            units="Sentinel-2 L1C reflectance x 10000",
            value_range=(0, 10000),
        ),
        description="DeCUR ResNet-50 for 13 Sentinel-2 bands (SSL4EO-S12)",
        paper="Wang et al. 2023, DeCUR, arXiv 2309.05300",
        license="",  # not stated on the weights' Hub page we could read
    )
)


# --- Published TerraTorch fine-tunes --------------------------------------------------------------


@dataclass(frozen=True)
class PublishedModel:
    """A fine-tuned model published in TerraTorch's format, loadable by a short name on its base.

    Attributes:
        base: Catalog name of the base the fine-tune started from.
        name: Short adapter name (``burn_scars-terratorch``).
        repo_id: Hub repository of the files.
        config: The LightningCLI YAML in that repository.
        checkpoint: The Lightning checkpoint in that repository.
        revision: Commit the files are read at ("main" where none could be verified).
        classes: Class names, for configs that record none.
        final_upsample: The U-Net variant, for checkpoints that do not tell (None: from the checkpoint).
    """

    base: str
    name: str
    repo_id: str
    config: str
    checkpoint: str
    revision: str = "main"
    classes: tuple[str, ...] = ()
    final_upsample: bool | None = None


_PUBLISHED: dict[tuple[str, str], PublishedModel] = {}


def register_published(model: PublishedModel) -> PublishedModel:
    """Add a published fine-tune to the catalog and return it.

    Raises:
        ValueError: One of that base and name is registered already.
    """
    key = (model.base, model.name)
    if key in _PUBLISHED:
        raise ValueError(f"{model.name} on {model.base} is registered already")
    _PUBLISHED[key] = model
    return model


def find_published(name: str, base: str | None = None) -> PublishedModel | None:
    """The published fine-tune of that short name on `base`, or on any base when the name is unique."""
    if base is not None:
        return _PUBLISHED.get((base, name))
    found = [model for (_, named), model in _PUBLISHED.items() if named == name]
    return found[0] if len(found) == 1 else None


def list_published() -> list[PublishedModel]:
    """Every published fine-tune in the catalog."""
    return list(_PUBLISHED.values())


# ibm-nasa-geospatial's fine-tunes of Prithvi-EO-2.0-300M (-TL). BurnScars' revision a3f2c410 is the
# commit of 2025-09-29, whose checkpoint has been unchanged since it was first committed (bf9c5cd9,
# 2025-02-28); it was trained with Lightning 2.5.0.post0, so its U-Net up-samples in the last block.
register_published(
    PublishedModel(
        base="prithvi-300",
        name="burn_scars-terratorch",
        repo_id="ibm-nasa-geospatial/Prithvi-EO-2.0-300M-BurnScars",
        config="burn_scars_config.yaml",
        checkpoint="Prithvi_EO_V2_300M_BurnScars.pt",
        revision="a3f2c410e45b8ac7417976614528a872f024d831",
    )
)
# Two revisions of this repository are known (91ce9d38, 918b9f14) and neither could be checked here.
register_published(
    PublishedModel(
        base="prithvi-300-tl",
        name="sen1floods11-terratorch",
        repo_id="ibm-nasa-geospatial/Prithvi-EO-2.0-300M-TL-Sen1Floods11",
        config="config.yaml",
        checkpoint="Prithvi-EO-V2-300M-TL-Sen1Floods11.pt",
        classes=("no water", "water"),
    )
)
