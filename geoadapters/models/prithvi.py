"""Prithvi-EO encoder: the MAE encoder of Prithvi-EO 1.0 and 2.0 with 3D patches and positions.

Papers: Jakubik et al. 2023 (arXiv 2310.18660), Szwarcman et al. 2024 (arXiv 2412.02732).
Parameter names and shapes equal the official checkpoints (``Prithvi_EO_V2_300M.pt`` of
ibm-nasa-geospatial/Prithvi-EO-2.0-300M and its siblings) after the ``encoder.`` prefix is removed, and
the forward pass computes what TerraTorch's `PrithviViT` computes: its blocks are timm's
``vision_transformer.Block`` with ``nn.LayerNorm`` (eps 1e-5) and a qkv bias. `ViTBlock` is that block
with the same parameter names and the same operations (timm 1.0 at its defaults), written here because
importing timm imports torchvision, which would cost inference a few seconds per process.
"""

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from geoadapters.errors import InputShapeError
from geoadapters.models.checkpoint import map_band_weights
from geoadapters.models.encoder import Encoder, Features
from geoadapters.models.pos_embed import resize_pos_embed, sincos_1d, sincos_3d
from geoadapters.specs import BaseSpec, PrithviArch, SceneMetadata

__all__ = ["MetadataEncoder", "PatchEmbed3D", "PrithviViT", "ViTBlock", "drop_path"]


def drop_path(rate: float) -> nn.Module:
    """Stochastic depth of a residual branch: timm's `DropPath` when training with a rate, else identity.

    timm is imported only then: inference never pays for it.
    """
    if rate <= 0:
        return nn.Identity()
    from timm.layers.drop import DropPath

    module: nn.Module = DropPath(rate)
    return module


class Attention(nn.Module):
    """Multi-head self-attention with a fused qkv projection (timm's `Attention`, fused path)."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        """(B, N, D) tokens attended to each other."""
        batch, tokens, dim = x.shape
        qkv = (
            self.qkv(x)
            .reshape(batch, tokens, 3, self.num_heads, dim // self.num_heads)
            .permute(2, 0, 3, 1, 4)
        )
        q, k, v = qkv.unbind(0)
        out = F.scaled_dot_product_attention(q, k, v)
        projected: Tensor = self.proj(out.transpose(1, 2).reshape(batch, tokens, dim))
        return projected


class Mlp(nn.Module):
    """Linear, GELU, Linear."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        """The MLP of each token."""
        out: Tensor = self.fc2(self.act(self.fc1(x)))
        return out


class ViTBlock(nn.Module):
    """Pre-norm transformer block: ``x + attn(norm1(x))``, then ``x + mlp(norm2(x))``.

    Parameter names and operations are those of timm's ``Block(dim, heads, mlp_ratio, qkv_bias=True,
    norm_layer=nn.LayerNorm, drop_path=...)``, so checkpoints, LoRA targets and outputs are the same.
    """

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, drop_path_rate: float = 0.0) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, num_heads)
        self.drop_path1 = drop_path(drop_path_rate)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.drop_path2 = drop_path(drop_path_rate)

    def forward(self, x: Tensor) -> Tensor:
        """Tokens (B, N, D) through the block."""
        x = x + self.drop_path1(self.attn(self.norm1(x)))
        out: Tensor = x + self.drop_path2(self.mlp(self.norm2(x)))
        return out


class PatchEmbed3D(nn.Module):
    """Cuts (B, C, T, H, W) into tubelets and projects each to a token: (B, T' * H' * W', D)."""

    def __init__(self, in_chans: int, embed_dim: int, patch_size: int, tubelet_size: int) -> None:
        super().__init__()
        self.patch_size = (tubelet_size, patch_size, patch_size)
        self.proj = nn.Conv3d(in_chans, embed_dim, kernel_size=self.patch_size, stride=self.patch_size)

    def forward(self, x: Tensor) -> Tensor:
        """Tokens (B, L, D) of a (B, C, T, H, W) input."""
        patches: Tensor = self.proj(x)
        return patches.flatten(2).transpose(1, 2)


class MetadataEncoder(nn.Module):
    """Sin-cos code of two scalars (year and day of year, or latitude and longitude), scaled.

    Each scalar takes half of the width; the -TL models learn the scale (initialised to 0.1).
    """

    def __init__(self, embed_dim: int, learn_scale: bool) -> None:
        super().__init__()
        self.embed_dim = embed_dim
        self.scale: Tensor
        if learn_scale:
            self.scale = nn.Parameter(torch.full((1,), 0.1))
        else:
            self.register_buffer("scale", torch.ones(1))

    def forward(self, coords: Tensor) -> Tensor:
        """Encode ``(..., 2)`` coordinates as ``(..., embed_dim)``."""
        half = self.embed_dim // 2
        first = sincos_1d(half, coords[..., 0])
        second = sincos_1d(self.embed_dim - half, coords[..., 1])
        return self.scale * torch.cat([first, second], dim=-1)


class PrithviViT(Encoder):
    """Prithvi-EO encoder.

    Args:
        spec: Catalog entry with a `PrithviArch`; its input bands give the number of input channels.
    """

    # The paper's LoRA targets (section 3): q and v of the split qkv, and both MLP Linears.
    lora_targets: ClassVar[tuple[str, ...]] = ("qkv.q_linear", "qkv.v_linear", "mlp.fc1", "mlp.fc2")
    fused_qkv: ClassVar[str | None] = "attn.qkv"

    def __init__(self, spec: BaseSpec) -> None:
        arch = spec.arch
        if not isinstance(arch, PrithviArch):
            raise TypeError(f"PrithviViT needs a PrithviArch, got {type(arch).__name__}")
        frames = arch.num_frames // arch.tubelet_size
        features = Features(
            "tokens",
            (arch.embed_dim,) * arch.depth,
            (arch.patch_size,) * arch.depth,
            arch.input_multiple,
            frames,
        )
        super().__init__(spec, features)
        self.arch = arch
        self.embed_dim = arch.embed_dim
        self.patch_size = arch.patch_size
        self.in_chans = in_chans = len(spec.input.bands)
        self.grid_size = (frames, arch.img_size // arch.patch_size, arch.img_size // arch.patch_size)
        self.patch_embed = PatchEmbed3D(in_chans, arch.embed_dim, arch.patch_size, arch.tubelet_size)
        if "time" in arch.coords_encoding:
            self.temporal_embed_enc = MetadataEncoder(arch.embed_dim, arch.coords_scale_learn)
        if "location" in arch.coords_encoding:
            self.location_embed_enc = MetadataEncoder(arch.embed_dim, arch.coords_scale_learn)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, arch.embed_dim))
        self.pos_embed: Tensor
        # on the CPU even when the module is built on the meta device: no checkpoint holds it for this
        # grid, and torch's meta arange imports torch._dynamo (seconds)
        with torch.device("cpu"):
            self.register_buffer("pos_embed", sincos_3d(arch.embed_dim, self.grid_size))
        self.blocks = nn.ModuleList(
            ViTBlock(arch.embed_dim, arch.num_heads, arch.mlp_ratio, arch.drop_path)
            for _ in range(arch.depth)
        )
        self.norm = nn.LayerNorm(arch.embed_dim)
        if not self.cls_token.is_meta:  # nothing to initialise; torch's meta normal_ imports torch._dynamo
            self._init_weights()

    def _init_weights(self) -> None:
        # As the reference: patch projection like a Linear, N(0, 0.02) class token, xavier Linears.
        weight = self.patch_embed.proj.weight.data
        nn.init.xavier_uniform_(weight.view(weight.shape[0], -1))
        nn.init.normal_(self.cls_token, std=0.02)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def token_grid(self, x: Tensor) -> tuple[int, int, int]:
        """(frames, rows, cols) of tokens for a 5-D input, after checking its shape."""
        _, channels, frames, height, width = x.shape
        if channels != self.in_chans:
            raise InputShapeError(f"the encoder takes {self.in_chans} bands, the input has {channels}")
        tubelet, patch = self.patch_embed.patch_size[0], self.patch_size
        if frames % tubelet or height % patch or width % patch:
            raise InputShapeError(
                f"input of {frames} frame(s) x {height} x {width} px is not divisible into "
                f"{tubelet} x {patch} x {patch} patches; pad or crop it first"
            )
        return frames // tubelet, height // patch, width // patch

    def embed(
        self,
        x: Tensor,
        temporal_coords: Tensor | None = None,
        location_coords: Tensor | None = None,
    ) -> Tensor:
        """Tokens entering the first block: class token, then patches with positions and metadata."""
        if x.ndim == 4:
            x = x.unsqueeze(2)
        if x.ndim != 5:
            raise InputShapeError(f"expected (B, C, H, W) or (B, C, T, H, W), got shape {tuple(x.shape)}")
        grid = self.token_grid(x)
        pos_embed = resize_pos_embed(self.pos_embed, self.grid_size, grid)
        tokens = self.patch_embed(x) + pos_embed[:, 1:]
        if temporal_coords is not None:
            if not hasattr(self, "temporal_embed_enc"):
                raise InputShapeError("this model has no time encoder; use a -TL model for temporal_coords")
            if temporal_coords.shape != (x.shape[0], grid[0], 2):
                raise InputShapeError(
                    f"temporal_coords must be (batch, frames, 2) = {(x.shape[0], grid[0], 2)}, "
                    f"got {tuple(temporal_coords.shape)}"
                )
            code = self.temporal_embed_enc(temporal_coords.to(tokens.dtype))
            tokens = tokens + code.repeat_interleave(grid[1] * grid[2], dim=1)
        if location_coords is not None:
            if not hasattr(self, "location_embed_enc"):
                raise InputShapeError(
                    "this model has no location encoder; use a -TL model for location_coords"
                )
            if location_coords.shape != (x.shape[0], 2):
                raise InputShapeError(
                    f"location_coords must be (batch, 2) = {(x.shape[0], 2)}, "
                    f"got {tuple(location_coords.shape)}"
                )
            tokens = tokens + self.location_embed_enc(location_coords.to(tokens.dtype)).unsqueeze(1)
        cls_token = (self.cls_token + pos_embed[:, :1]).expand(x.shape[0], -1, -1)
        return torch.cat([cls_token, tokens], dim=1)

    def transformer_blocks(self) -> nn.ModuleList:
        """The ViT blocks."""
        return self.blocks

    def scene_metadata(self) -> tuple[str, ...]:
        """``time`` and/or ``location``: the encoders of the -TL models."""
        return tuple(kind for kind in ("time", "location") if kind in self.arch.coords_encoding)

    def scene_inputs(self, scene: SceneMetadata, batch: int) -> dict[str, Any]:
        """-TL models: ``temporal_coords`` (year, day of year per frame), ``location_coords`` (lat, lon)."""
        inputs: dict[str, Any] = {}
        if "time" in self.arch.coords_encoding and scene.dates:
            dates = [(d.year, d.timetuple().tm_yday) for d in scene.dates]
            inputs["temporal_coords"] = torch.tensor(dates, dtype=torch.float32).expand(batch, -1, -1)
        if "location" in self.arch.coords_encoding and scene.lat is not None and scene.lon is not None:
            inputs["location_coords"] = torch.tensor([[scene.lat, scene.lon]]).expand(batch, -1)
        return inputs

    def forward_features(
        self,
        x: Tensor,
        temporal_coords: Tensor | None = None,
        location_coords: Tensor | None = None,
    ) -> list[Tensor]:
        """Token tensors after every block, (B, 1 + tokens, D), the final norm applied to the last.

        Args:
            x: (B, C, H, W) or (B, C, T, H, W) normalised input; H and W multiples of the patch size.
            temporal_coords: (B, T, 2) year and day of year, for models with a time encoder.
            location_coords: (B, 2) latitude and longitude in degrees, for models with a location encoder.
        """
        tokens = self.embed(x, temporal_coords, location_coords)
        features = []
        for block in self.blocks:
            tokens = block(tokens)
            features.append(tokens)
        features[-1] = self.norm(tokens)
        return features

    forward = forward_features

    def convert_checkpoint(
        self, state: Mapping[str, Tensor], pretrained_bands: Sequence[str]
    ) -> dict[str, Tensor]:
        """Map an official Prithvi checkpoint onto this module's state dict.

        v2 files store ``encoder.*`` and ``decoder.*`` (PrithviMAE); the v1 file is flat timm-MAE style
        with ``decoder_*`` keys and ``mask_token``. Decoder weights and the mask token are dropped, the
        fixed position embedding is the module's own (files store it for their pretraining grid), and
        the patch projection is rearranged for the module's bands.
        """
        encoders = {name for name in ("temporal_embed_enc", "location_embed_enc") if hasattr(self, name)}
        out: dict[str, Tensor] = {}
        for key, value in state.items():
            key = key.replace("_timm_module.", "")
            if key.startswith("encoder."):
                key = key[len("encoder.") :]
            if key.startswith("decoder") or key == "mask_token" or "pos_embed" in key:
                continue
            if key.split(".")[0] in {"temporal_embed_enc", "location_embed_enc"} - encoders:
                continue
            out[key] = value
        out["pos_embed"] = self.pos_embed
        key = "patch_embed.proj.weight"
        if key in out:
            init = self.patch_embed.proj.weight.detach()
            out[key] = map_band_weights(out[key], init, pretrained_bands, self.spec.input.bands)
        return out
