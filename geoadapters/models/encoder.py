"""The contract of every encoder: `Encoder`, the family facts it carries, and the `Features` it returns.

Necks, heads and methods see encoders only through this contract. Each family's module (Prithvi,
Clay, ResNet) subclasses `Encoder` and states its own facts (LoRA targets, fused qkv projections,
checkpoint layout, metadata defaults), so a new base family touches its own module, its architecture
in `geoadapters.specs`, one line of `geoadapters.models.build`, and the catalog.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from torch import Tensor, nn

from geoadapters.errors import AdapterError
from geoadapters.specs import BaseSpec, InputSpec, SceneMetadata

__all__ = ["Encoder", "FeatureKind", "Features"]

FeatureKind = Literal["tokens", "maps"]


@dataclass(frozen=True)
class Features:
    """What an encoder's ``forward_features`` returns: one tensor per output.

    Attributes:
        kind: ``"tokens"``: (B, 1 + T * h * w, D) with the class token first (ViTs); ``"maps"``:
            (B, C, H / r, W / r) feature maps.
        channels: Channels (token width) of each output.
        reductions: Stride of each output in input pixels (the patch size for tokens).
        input_multiple: Input height and width must be multiples of it.
        token_frames: Frames T of tokens (1 for maps and single-date ViTs).
    """

    kind: FeatureKind
    channels: tuple[int, ...]
    reductions: tuple[int, ...]
    input_multiple: int
    token_frames: int = 1

    def __post_init__(self) -> None:
        if self.kind not in ("tokens", "maps"):
            raise ValueError(f"feature kind must be 'tokens' or 'maps', got {self.kind!r}")
        if len(self.channels) != len(self.reductions) or not self.channels:
            raise ValueError(f"{len(self.channels)} channels for {len(self.reductions)} reductions")


class Encoder(nn.Module):
    """Base of the encoders of the catalog and of the methods that wrap them (ViT-Adapter).

    Class attributes (facts of the family):
        lora_targets: Module-name suffixes the paper adapts with LoRA (PEFT suffix match); empty
            where LoRA does not apply.
        fused_qkv: Name suffix of fused qkv Linears that LoRA splits into q, k and v; None if none.

    Args:
        spec: The catalog entry (with overrides) the encoder is built from.
        features: What `forward_features` returns.

    Attributes:
        spec: The catalog entry the encoder was built from.
        features: What `forward_features` returns.
        adapter_method: Name of the method attached by `geoadapters.add_adapter`, if any.
    """

    lora_targets: ClassVar[tuple[str, ...]] = ()
    fused_qkv: ClassVar[str | None] = None

    def __init__(self, spec: BaseSpec, features: Features) -> None:
        super().__init__()
        self.spec = spec
        self.features = features
        self.adapter_method: str | None = None

    # (x, *args: Any, **metadata: Any) so that each family's override declares its own metadata arguments
    # (Prithvi's temporal_coords, Clay's gsd, none for the ResNet) and still type-checks as an override.
    def forward_features(self, x: Tensor, *args: Any, **metadata: Any) -> list[Tensor]:
        """One tensor per output, as `features` describes them, of a normalised input."""
        raise NotImplementedError

    def transformer_blocks(self) -> nn.ModuleList:
        """The transformer blocks, in order, that token methods (VPT) attach to.

        Raises:
            AdapterError: The encoder has none (convolutional encoders).
        """
        raise AdapterError(f"{self.spec.name} is no transformer: it has no blocks to put prompts in")

    def convert_checkpoint(
        self, state: Mapping[str, Tensor], pretrained_bands: Sequence[str]
    ) -> dict[str, Tensor]:
        """The official checkpoint's tensors under this module's names, input layer mapped to its bands."""
        return dict(state)

    def forward_defaults(self, input: InputSpec) -> dict[str, Any]:
        """Metadata arguments of `forward_features` taken from an input contract (Clay: its GSD)."""
        return {}

    def scene_metadata(self) -> tuple[str, ...]:
        """The kinds of scene metadata (`geoadapters.specs.SCENE_METADATA`) this encoder conditions on."""
        return ()

    def scene_inputs(self, scene: SceneMetadata, batch: int) -> dict[str, Any]:
        """Metadata arguments of `forward_features` for `batch` tiles of a scene (the -TL models, Clay).

        Only what the scene tells and the model takes; the others are left out (the model's defaults).
        """
        return {}
