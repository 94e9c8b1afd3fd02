"""Clay v1 encoder: a ViT whose patch embedding is generated from the wavelengths of the bands.

Clay Foundation Model v1 (made-with-clay), as TerraTorch's `clay_v1` embedder builds it. Any number and
order of bands works: a small transformer turns each band's wavelength into its slice of the patch
kernel. Positions are a 2D sin-cos code scaled by the ground sample distance, followed by 8 raw
metadata values (4 of time, 4 of latitude/longitude). Unlike the reference, the position grid follows
the input (any multiple of the patch size, not only the size the model was built for), and an unknown
band is an error instead of a silent zero wavelength.
"""

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from geoadapters.bands import wavelength
from geoadapters.errors import InputShapeError
from geoadapters.models.encoder import Encoder, Features
from geoadapters.specs import BaseSpec, ClayArch, InputSpec, SceneMetadata

__all__ = ["ClayEncoder", "clay_sincos_1d", "clay_sincos_2d"]


def clay_sincos_1d(pos: Tensor, dim: int, temperature: float = 10000.0) -> Tensor:
    """Clay's 1D code: frequencies ``temperature^(-i / (dim/2 - 1))``, then ``[sin, cos]``."""
    omega = torch.arange(dim // 2, device=pos.device).to(pos) / (dim // 2 - 1)
    omega = 1.0 / temperature**omega
    angles = pos[:, None] * omega[None, :]
    return torch.cat([angles.sin(), angles.cos()], dim=1).float()


def clay_sincos_2d(
    height: int, width: int, dim: int, gsd: float | Tensor, temperature: float = 10000.0
) -> Tensor:
    """Clay's 2D code of a token grid, frequencies scaled by the ground sample distance.

    Returns:
        (height * width, dim) tensor ordered row-major, ``[sin x, cos x, sin y, cos y]``.
    """
    y, x = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    omega = torch.arange(dim // 4) / (dim // 4 - 1)
    omega = 1.0 / (temperature ** (2 * omega / dim)) * gsd
    y = y.flatten()[:, None] * omega[None, :]
    x = x.flatten()[:, None] * omega[None, :]
    return torch.cat([x.sin(), x.cos(), y.sin(), y.cos()], dim=1).float()


class FCBlock(nn.Module):
    """Residual two-layer GELU MLP over the wavelength code."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.l1 = nn.Linear(size, size)
        self.l2 = nn.Linear(size, size)

    def forward(self, x: Tensor) -> Tensor:
        return x + F.gelu(self.l2(F.gelu(self.l1(x))))


class WavesTransformer(nn.Module):
    """Turns per-band wavelength codes into per-band kernel slices and a bias."""

    def __init__(self, wave_dim: int, output_dim: int, num_latent_tokens: int, embed_dim: int) -> None:
        super().__init__()
        self.num_latent_tokens = num_latent_tokens
        layer = nn.TransformerEncoderLayer(
            d_model=wave_dim, nhead=4, activation="gelu", dropout=0.0, norm_first=False, batch_first=False
        )
        self.encoder = nn.TransformerEncoder(layer, num_layers=1, enable_nested_tensor=False)
        self.fc_weight = nn.Linear(wave_dim, output_dim)
        self.fc_bias = nn.Linear(wave_dim, embed_dim)
        self.weight_tokens = nn.Parameter(torch.randn(num_latent_tokens, wave_dim) * 0.02)
        self.bias_token = nn.Parameter(torch.randn(1, wave_dim) * 0.02)

    def forward(self, waves: Tensor) -> tuple[Tensor, Tensor]:
        x = torch.cat([self.weight_tokens, waves, self.bias_token], dim=0)
        out = self.encoder(x)
        weights = self.fc_weight(out[self.num_latent_tokens : -1] + x[self.num_latent_tokens : -1])
        return weights, self.fc_bias(out[-1])


class DynamicEmbedding(nn.Module):
    """Patch embedding whose kernel is generated from the input bands' wavelengths."""

    def __init__(self, wave_dim: int, num_latent_tokens: int, patch_size: int, embed_dim: int) -> None:
        super().__init__()
        self.wave_dim = wave_dim
        self.patch_size = patch_size
        self.embed_dim = embed_dim
        self.weight_generator = WavesTransformer(
            wave_dim, patch_size**2 * embed_dim, num_latent_tokens, embed_dim
        )
        self.fclayer = FCBlock(wave_dim)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)

    def kernel(self, waves: Tensor) -> tuple[Tensor, Tensor]:
        """Convolution weight (D, C, p, p) and bias (D,) for bands of these wavelengths (µm)."""
        code = self.fclayer(clay_sincos_1d(waves, self.wave_dim))
        weight, bias = self.weight_generator(code)
        weight = weight.reshape(len(waves), self.embed_dim, self.patch_size, self.patch_size).transpose(0, 1)
        return weight * 0.02, bias

    def forward(self, x: Tensor, waves: Tensor) -> Tensor:
        weight, bias = self.kernel(waves)
        return F.conv2d(x, weight, bias, stride=self.patch_size).flatten(2).transpose(1, 2)


class Attention(nn.Module):
    """Pre-norm multi-head self-attention without biases."""

    def __init__(self, dim: int, heads: int, dim_head: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm = nn.LayerNorm(dim)
        self.to_qkv = nn.Linear(dim, heads * dim_head * 3, bias=False)
        self.to_out = nn.Linear(heads * dim_head, dim, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        batch, tokens, _ = x.shape
        qkv = self.to_qkv(self.norm(x)).reshape(batch, tokens, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])
        projected: Tensor = self.to_out(out.transpose(1, 2).reshape(batch, tokens, -1))
        return projected


class FeedForward(nn.Module):
    """Pre-norm GELU MLP; ``net`` is [LayerNorm, Linear, GELU, Linear] as in the checkpoint."""

    def __init__(self, dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.LayerNorm(dim), nn.Linear(dim, hidden_dim), nn.GELU(), nn.Linear(hidden_dim, dim)
        )

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.net(x)
        return out


class ClayLayer(nn.ModuleList):
    """One transformer layer, kept a ModuleList ``[attention, feed-forward]`` for the checkpoint names."""

    def forward(self, x: Tensor) -> Tensor:
        attention, feed_forward = self
        x = attention(x) + x
        out: Tensor = feed_forward(x) + x
        return out


class ClayTransformer(nn.Module):
    """Stack of `ClayLayer` and the final norm."""

    def __init__(self, dim: int, depth: int, heads: int, dim_head: int, mlp_dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.layers = nn.ModuleList(
            ClayLayer([Attention(dim, heads, dim_head), FeedForward(dim, mlp_dim)]) for _ in range(depth)
        )


class ClayEncoder(Encoder):
    """Clay v1 encoder.

    Args:
        spec: Catalog entry with a `ClayArch`; the wavelengths of its input bands generate the patch
            kernel.
    """

    # The paper's LoRA targets (section 3): q and v of the split qkv, and both feed-forward Linears.
    lora_targets: ClassVar[tuple[str, ...]] = ("to_qkv.q_linear", "to_qkv.v_linear", "1.net.1", "1.net.3")
    fused_qkv: ClassVar[str | None] = "to_qkv"

    def __init__(self, spec: BaseSpec) -> None:
        arch = spec.arch
        if not isinstance(arch, ClayArch):
            raise TypeError(f"ClayEncoder needs a ClayArch, got {type(arch).__name__}")
        super().__init__(
            spec,
            Features(
                "tokens", (arch.dim,) * arch.depth, (arch.patch_size,) * arch.depth, arch.input_multiple
            ),
        )
        bands = spec.input.bands
        self.arch = arch
        self.embed_dim = arch.dim
        self.patch_size = arch.patch_size
        self.cls_token = nn.Parameter(torch.randn(1, 1, arch.dim) * 0.02)
        self.patch_embedding = DynamicEmbedding(
            arch.wave_dim, arch.num_latent_tokens, arch.patch_size, arch.dim
        )
        self.transformer = ClayTransformer(
            arch.dim, arch.depth, arch.heads, arch.dim_head, int(arch.dim * arch.mlp_ratio)
        )
        self.waves: Tensor
        # on the CPU even when the module is built on the meta device: no checkpoint holds it
        waves = torch.tensor([wavelength(b) for b in bands], device="cpu")
        self.register_buffer("waves", waves, persistent=False)

    def transformer_blocks(self) -> nn.ModuleList:
        """The transformer layers."""
        return self.transformer.layers

    def forward_defaults(self, input: InputSpec) -> dict[str, Any]:
        """Clay conditions on the ground sample distance: the input contract's, where it has one."""
        return {} if input.gsd is None else {"gsd": input.gsd}

    def scene_metadata(self) -> tuple[str, ...]:
        """Clay v1 encodes the acquisition time and the location of every input."""
        return ("time", "location")

    def scene_inputs(self, scene: SceneMetadata, batch: int) -> dict[str, Any]:
        """``time``, ``latlon`` as Clay v1 encodes them, and the scene's ``gsd``.

        Time is the sine and cosine of the week of the year and of the hour, place those of latitude
        and longitude in radians (Clay v1's tutorial, ``normalize_timestamp``/``normalize_latlon``).
        The contract's GSD, where it has one, comes first (`TorchRunner`).
        """
        inputs: dict[str, Any] = {}
        if scene.dates:
            week = scene.dates[0].isocalendar()[1] * 2 * math.pi / 52
            hour = 0.0  # dates carry no time of day
            time = [math.sin(week), math.cos(week), math.sin(hour), math.cos(hour)]
            inputs["time"] = torch.tensor([time]).expand(batch, -1)
        if scene.lat is not None and scene.lon is not None:
            lat, lon = math.radians(scene.lat), math.radians(scene.lon)
            latlon = [math.sin(lat), math.cos(lat), math.sin(lon), math.cos(lon)]
            inputs["latlon"] = torch.tensor([latlon]).expand(batch, -1)
        if scene.gsd is not None:
            inputs["gsd"] = scene.gsd
        return inputs

    def embed(
        self,
        x: Tensor,
        time: Tensor | None = None,
        latlon: Tensor | None = None,
        waves: Tensor | None = None,
        gsd: float | Tensor = 1.0,
    ) -> Tensor:
        """Tokens entering the first layer: class token, then patches with positions and metadata."""
        if x.ndim != 4:
            raise InputShapeError(f"expected (B, C, H, W), got shape {tuple(x.shape)}")
        batch, channels, height, width = x.shape
        waves = self.waves if waves is None else waves
        if channels != len(waves):
            raise InputShapeError(f"the input has {channels} bands but {len(waves)} wavelengths are given")
        if height % self.patch_size or width % self.patch_size:
            raise InputShapeError(f"{height} x {width} px is not divisible into {self.patch_size}px patches")
        time = x.new_zeros(batch, 4) if time is None else time
        latlon = x.new_zeros(batch, 4) if latlon is None else latlon
        tokens = self.patch_embedding(x, waves.to(x))
        grid = clay_sincos_2d(height // self.patch_size, width // self.patch_size, self.embed_dim - 8, gsd)
        metadata = torch.cat([time, latlon], dim=1).to(tokens)
        code = torch.cat(
            [grid.to(tokens).expand(batch, -1, -1), metadata[:, None, :].expand(-1, tokens.shape[1], -1)],
            dim=-1,
        )
        tokens = tokens + code
        return torch.cat([self.cls_token.expand(batch, -1, -1), tokens], dim=1)

    def forward_features(
        self,
        x: Tensor,
        time: Tensor | None = None,
        latlon: Tensor | None = None,
        waves: Tensor | None = None,
        gsd: float | Tensor = 1.0,
    ) -> list[Tensor]:
        """Token tensors after every layer, (B, 1 + tokens, D), the final norm applied to the last.

        Args:
            x: (B, C, H, W) normalised input; H and W multiples of the patch size.
            time: (B, 4) ``[sin, cos]`` of week and of hour; zeros when absent.
            latlon: (B, 4) ``[sin lat, cos lat, sin lon, cos lon]``; zeros when absent.
            waves: (C,) wavelengths in µm, replacing those of the bands the model was built with.
            gsd: Ground sample distance in metres (the reference's default is 1.0).
        """
        tokens = self.embed(x, time, latlon, waves, gsd)
        features = []
        for layer in self.transformer.layers:
            tokens = layer(tokens)
            features.append(tokens)
        features[-1] = self.transformer.norm(tokens)
        return features

    forward = forward_features

    def convert_checkpoint(
        self, state: Mapping[str, Tensor], pretrained_bands: Sequence[str]
    ) -> dict[str, Tensor]:
        """Keep the encoder of a Clay Lightning checkpoint (``model.encoder.*``) under this module's names.

        Bands need no mapping: the patch kernel is generated from wavelengths.
        """
        prefix = "model.encoder."
        if any(key.startswith(prefix) for key in state):
            return {key[len(prefix) :]: value for key, value in state.items() if key.startswith(prefix)}
        return dict(state)
