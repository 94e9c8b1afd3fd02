"""ViT-Adapter on a frozen Prithvi encoder, as TerraTorch's ``PrithviViTAdapter`` builds it.

Paper: Chen et al. 2022, "Vision Transformer Adapter for Dense Predictions" (arXiv 2205.08534). A
convolutional spatial prior and the ViT exchange information through deformable attention before and
after each of four chunks of ViT blocks; the adapter outputs a four-level feature pyramid. Unlike
TerraTorch, the ViT stays a separate module (``backbone``, its class token and final norm unused), and
the adapter runs without the CUDA deformable-attention extension.
"""

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from geoadapters.errors import AdapterError, InputShapeError
from geoadapters.methods.method import Method, owned_state
from geoadapters.methods.settings import ViTAdapterSettings
from geoadapters.methods.vit_adapter.deform_attn import MSDeformAttn
from geoadapters.methods.vit_adapter.modules import (
    SPM_STRIDES,
    VIT_STRIDE,
    InteractionBlock,
    SpatialPriorModule,
    deform_inputs,
)
from geoadapters.models.encoder import Encoder, Features
from geoadapters.models.prithvi import PrithviViT
from geoadapters.specs import InputSpec

__all__ = ["VIT_ADAPTER", "ViTAdapter", "apply_vit_adapter", "is_adapter_parameter"]


class ViTAdapter(Encoder):
    """A Prithvi encoder with ViT-Adapter: four feature maps at strides 4, 8, 16 and 32.

    Args:
        backbone: Single-frame Prithvi encoder with 16 px patches; kept as ``self.backbone``.
        settings: Adapter hyper-parameters.

    Raises:
        AdapterError: The backbone is not a Prithvi encoder, has several frames or other patches, or does
            not fit the settings.
    """

    def __init__(self, backbone: Encoder, settings: ViTAdapterSettings) -> None:
        if not isinstance(backbone, PrithviViT):
            raise AdapterError(
                f"ViT-Adapter is made for Prithvi encoders, not {type(backbone).__name__}; "
                "use LoRA or VPT for other bases"
            )
        if backbone.features.token_frames != 1 or backbone.arch.tubelet_size != 1:
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
        strides = (SPM_STRIDES[0] // 2, *SPM_STRIDES)
        super().__init__(backbone.spec, Features("maps", (dim,) * len(strides), strides, max(SPM_STRIDES)))
        self.backbone = backbone
        self.settings = settings
        self.interaction_indexes = settings.blocks_for(len(backbone.blocks))

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
                extra_extractor=settings.use_extra_extractor and i == len(self.interaction_indexes) - 1,
            )
            for i in range(len(self.interaction_indexes))
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

    def forward_defaults(self, input: InputSpec) -> dict[str, object]:
        """The backbone's metadata defaults."""
        return self.backbone.forward_defaults(input)

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
        multiple = self.features.input_multiple
        if height % multiple or width % multiple:
            raise InputShapeError(
                f"ViT-Adapter needs height and width that are multiples of {multiple}, "
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
            vit_maps.append(torch.unflatten(x_tokens.transpose(1, 2), 2, grid))

        sizes = [h * w for h, w in to_spm.query_shapes]
        c2, c3, c4 = (
            torch.unflatten(level.transpose(1, 2), 2, shape)
            for level, shape in zip(torch.split(c, sizes, dim=1), to_spm.query_shapes, strict=True)
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


def apply_vit_adapter(backbone: Encoder, settings: ViTAdapterSettings | None = None) -> ViTAdapter:
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


def _fits(encoder: Encoder, settings: ViTAdapterSettings) -> str | None:
    return None if isinstance(encoder, PrithviViT) else "ViT-Adapter is built for Prithvi encoders"


VIT_ADAPTER = Method(apply=apply_vit_adapter, fits=_fits, **owned_state(is_adapter_parameter))
