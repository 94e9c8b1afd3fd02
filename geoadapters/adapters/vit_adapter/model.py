"""ViT-Adapter on a frozen Prithvi encoder, as TerraTorch's ``PrithviViTAdapter`` builds it.

Paper: Chen et al. 2022, "Vision Transformer Adapter for Dense Predictions" (arXiv 2205.08534). A
convolutional spatial prior and the ViT exchange information through deformable attention before and
after each of four chunks of ViT blocks; the adapter outputs a four-level feature pyramid. Unlike
TerraTorch, the ViT stays a separate module (``backbone``, its class token and final norm unused), and
the adapter runs without the CUDA deformable-attention extension.
"""

import itertools
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from geoadapters.adapters.vit_adapter.deform_attn import MSDeformAttn
from geoadapters.adapters.vit_adapter.modules import (
    SPM_STRIDES,
    VIT_STRIDE,
    InteractionBlock,
    SpatialPriorModule,
    deform_inputs,
)
from geoadapters.errors import AdapterError, InputShapeError
from geoadapters.models.prithvi import PrithviViT
from geoadapters.settings import Settings
from geoadapters.specs import BaseSpec

__all__ = ["ViTAdapter", "ViTAdapterSettings", "apply_vit_adapter", "is_adapter_parameter"]

_INTERACTIONS = 4


@dataclass(frozen=True)
class ViTAdapterSettings(Settings):
    """Hyper-parameters of ViT-Adapter; the defaults are the paper's and TerraTorch's.

    Attributes:
        interaction_indexes: First and last ViT block of each of the 4 interactions, consecutive and
            covering every block; None splits the depth into 4 equal chunks (24 -> (0, 5) ... (18, 23)).
        conv_inplane: Width of the spatial prior's stem.
        n_points: Sampling points per head and level of the deformable attentions.
        deform_num_heads: Heads of the deformable attentions; None takes the ViT's.
        deform_ratio: Value width of the deformable attentions over the ViT width.
        init_values: Initial scale of the injectors' output; 0 leaves the ViT unchanged at start.
        with_cffn: Give the extractors a convolutional feed-forward.
        cffn_ratio: Hidden width of that feed-forward over the ViT width.
        add_vit_feature: Add the resized ViT outputs of the 4 interactions to the 4 output maps.
        use_extra_extractor: Two more extractors after the last interaction.
    """

    interaction_indexes: tuple[tuple[int, int], ...] | None = None
    conv_inplane: int = 64
    n_points: int = 4
    deform_num_heads: int | None = None
    deform_ratio: float = 0.5
    init_values: float = 0.0
    with_cffn: bool = False
    cffn_ratio: float = 0.25
    add_vit_feature: bool = True
    use_extra_extractor: bool = True

    def __post_init__(self) -> None:
        if self.interaction_indexes is not None:
            pairs = tuple(tuple(int(i) for i in pair) for pair in self.interaction_indexes)
            object.__setattr__(self, "interaction_indexes", pairs)
            if len(pairs) != _INTERACTIONS or any(len(pair) != 2 for pair in pairs):
                raise ValueError(
                    f"interaction_indexes must be {_INTERACTIONS} (first, last) block pairs, got {pairs}"
                )
            starts = [0] + [last + 1 for _, last in pairs[:-1]]
            if any(
                first != start or last < first for (first, last), start in zip(pairs, starts, strict=True)
            ):
                raise ValueError(
                    f"interaction_indexes must be consecutive chunks of blocks from block 0, such as "
                    f"((0, 5), (6, 11), (12, 17), (18, 23)); got {pairs}"
                )
        for name in ("conv_inplane", "n_points"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)}")
        if self.deform_num_heads is not None and self.deform_num_heads < 1:
            raise ValueError(f"deform_num_heads must be positive or None, got {self.deform_num_heads}")
        for name in ("deform_ratio", "cffn_ratio"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")

    def blocks_for(self, depth: int) -> tuple[tuple[int, int], ...]:
        """The (first, last) block of each interaction for a ViT of `depth` blocks.

        Raises:
            AdapterError: The ViT has fewer than 4 blocks, or the indexes do not cover its blocks.
        """
        if depth < _INTERACTIONS:
            raise AdapterError(
                f"ViT-Adapter needs a ViT of at least {_INTERACTIONS} blocks, this one has {depth}"
            )
        if self.interaction_indexes is None:
            sizes = [depth // _INTERACTIONS + (i < depth % _INTERACTIONS) for i in range(_INTERACTIONS)]
            ends = itertools.accumulate(sizes)
            return tuple((end - size, end - 1) for size, end in zip(sizes, ends, strict=True))
        if self.interaction_indexes[-1][1] != depth - 1:
            raise AdapterError(
                f"interaction_indexes {self.interaction_indexes} do not end at the last block ({depth - 1}) "
                "of this ViT; leave them None to split its blocks evenly"
            )
        return self.interaction_indexes


class ViTAdapter(nn.Module):
    """A Prithvi encoder with ViT-Adapter: four feature maps at strides 4, 8, 16 and 32.

    Exposes the feature contract of `geoadapters.models.factory` with ``feature_kind = "maps"``.

    Args:
        backbone: Single-frame Prithvi encoder with 16 px patches; kept as ``self.backbone``.
        settings: Adapter hyper-parameters.

    Raises:
        AdapterError: The backbone is not a Prithvi encoder, has several frames or other patches, or does
            not fit the settings.
    """

    def __init__(self, backbone: PrithviViT, settings: ViTAdapterSettings) -> None:
        super().__init__()
        if not isinstance(backbone, PrithviViT):
            raise AdapterError(
                f"ViT-Adapter is made for Prithvi encoders, not {type(backbone).__name__}; "
                "use LoRA or VPT for other bases"
            )
        if backbone.token_frames != 1 or backbone.arch.tubelet_size != 1:
            raise AdapterError(
                f"ViT-Adapter takes single-frame images, but this encoder is built for "
                f"{backbone.arch.num_frames} frames; create it with num_frames=1"
            )
        if backbone.patch_size != VIT_STRIDE:
            raise AdapterError(
                f"ViT-Adapter needs {VIT_STRIDE} px patches to align the ViT with its spatial prior, "
                f"this encoder has {backbone.patch_size} px patches (prithvi-600 cannot take it)"
            )
        dim = backbone.embed_dim
        self.backbone = backbone
        self.settings = settings
        self.interaction_indexes = settings.blocks_for(len(backbone.blocks))
        # feature contract shared by all encoders (geoadapters.models.factory)
        self.feature_kind = "maps"
        self.out_channels = [dim] * 4
        self.reductions = [SPM_STRIDES[0] // 2, *SPM_STRIDES]
        self.input_multiple = max(SPM_STRIDES)

        self.level_embed = nn.Parameter(torch.empty(len(SPM_STRIDES), dim))
        self.spm = SpatialPriorModule(backbone.in_chans, settings.conv_inplane, dim)
        self.interactions = nn.ModuleList(
            InteractionBlock(
                dim,
                settings.deform_num_heads or backbone.arch.num_heads,
                settings.n_points,
                settings.deform_ratio,
                settings.init_values,
                settings.with_cffn,
                settings.cffn_ratio,
                backbone.arch.drop_path,
                extra_extractor=settings.use_extra_extractor and i == _INTERACTIONS - 1,
            )
            for i in range(_INTERACTIONS)
        )
        self.up = nn.ConvTranspose2d(dim, dim, 2, 2)
        self.norm1 = nn.BatchNorm2d(dim)
        self.norm2 = nn.BatchNorm2d(dim)
        self.norm3 = nn.BatchNorm2d(dim)
        self.norm4 = nn.BatchNorm2d(dim)
        self._init_weights()
        weight = backbone.patch_embed.proj.weight
        self.to(device=weight.device, dtype=weight.dtype)

    def _init_weights(self) -> None:
        # ViT-Adapter's init: truncated-normal Linears, He-normal (fan-out) convolutions, then
        # Deformable DETR's init of every deformable attention, and a standard normal level embedding.
        for module in (self.up, self.spm, self.interactions):
            for m in module.modules():
                if isinstance(m, nn.Linear):
                    nn.init.trunc_normal_(m.weight, std=0.02)
                    nn.init.zeros_(m.bias)
                elif isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
                    fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels // m.groups
                    nn.init.normal_(m.weight, std=(2.0 / fan_out) ** 0.5)
                    if m.bias is not None:
                        nn.init.zeros_(m.bias)
        for m in self.interactions.modules():
            if isinstance(m, MSDeformAttn):
                m._reset_parameters()
        nn.init.normal_(self.level_embed)

    @property
    def spec(self) -> BaseSpec:
        """The base model's catalog entry."""
        return self.backbone.spec

    def forward_features(
        self,
        x: Tensor,
        temporal_coords: Tensor | None = None,
        location_coords: Tensor | None = None,
    ) -> list[Tensor]:
        """Feature maps (B, D, H/4, W/4), (B, D, H/8, W/8), (B, D, H/16, W/16), (B, D, H/32, W/32).

        Args:
            x: (B, C, H, W) or (B, C, 1, H, W) normalised input; H and W multiples of 32.
            temporal_coords: (B, 1, 2) year and day of year, for encoders with a time encoder.
            location_coords: (B, 2) latitude and longitude, for encoders with a location encoder.

        Raises:
            InputShapeError: Several frames, wrong band count, or a size that is not a multiple of 32.
        """
        if x.ndim == 5 and x.shape[2] == 1:
            x = x.squeeze(2)
        if x.ndim != 4:
            raise InputShapeError(f"ViT-Adapter takes (B, C, H, W) or (B, C, 1, H, W), got {tuple(x.shape)}")
        height, width = x.shape[-2:]
        if height % self.input_multiple or width % self.input_multiple:
            raise InputShapeError(
                f"ViT-Adapter needs height and width that are multiples of {self.input_multiple}, "
                f"got {height} x {width}; pad or crop the input"
            )
        # The backbone's own tokens (positions and metadata included) without its class token.
        x_tokens = self.backbone.embed(x, temporal_coords, location_coords)[:, 1:]
        to_vit, to_spm = deform_inputs(x)
        c1, *prior = self.spm(x)
        c = torch.cat([level + embed for level, embed in zip(prior, self.level_embed, strict=True)], dim=1)

        vit_maps = []
        (grid,) = to_vit.query_shapes
        for interaction, (first, last) in zip(self.interactions, self.interaction_indexes, strict=True):
            x_tokens, c = interaction(x_tokens, c, self.backbone.blocks[first : last + 1], to_vit, to_spm)
            vit_maps.append(x_tokens.transpose(1, 2).unflatten(2, grid))

        sizes = [h * w for h, w in to_spm.query_shapes]
        c2, c3, c4 = (
            level.transpose(1, 2).unflatten(2, shape)
            for level, shape in zip(c.split(sizes, dim=1), to_spm.query_shapes, strict=True)
        )
        maps = [self.up(c2) + c1, c2, c3, c4]
        if self.settings.add_vit_feature:
            maps = [
                m + F.interpolate(v, size=m.shape[-2:], mode="bilinear", align_corners=False)
                for m, v in zip(maps, vit_maps, strict=True)
            ]
        norms = (self.norm1, self.norm2, self.norm3, self.norm4)
        return [norm(m) for norm, m in zip(norms, maps, strict=True)]

    forward = forward_features


def is_adapter_parameter(name: str) -> bool:
    """Whether a `ViTAdapter` state-dict entry belongs to the adapter (BatchNorm statistics included)."""
    return not name.startswith("backbone.")


def apply_vit_adapter(backbone: PrithviViT, settings: ViTAdapterSettings | None = None) -> ViTAdapter:
    """Wrap a Prithvi encoder in ViT-Adapter, freezing the encoder.

    Args:
        backbone: Single-frame Prithvi encoder with 16 px patches, e.g. from `create_backbone`.
        settings: Adapter hyper-parameters; None takes the paper's.

    Returns:
        The wrapper, whose trainable parameters are exactly the adapter's.

    Raises:
        AdapterError: The backbone cannot take ViT-Adapter (see `ViTAdapter`).
    """
    model = ViTAdapter(backbone, settings or ViTAdapterSettings())
    for name, param in model.named_parameters():
        param.requires_grad_(is_adapter_parameter(name))
    return model
