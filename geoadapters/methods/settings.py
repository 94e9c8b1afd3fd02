"""Each method's settings as a frozen dataclass of the paper's defaults (registered in `methods.registry`).

Marti-Escofet et al. 2025 (arXiv 2504.17397, section 3): LoRA of rank 16 (alpha 16) on q, v and the
MLP; deep VPT with 100 prompt tokens per block; ViT-Adapter as TerraTorch configures it; linear probing
and full fine-tuning. Plain data without torch, so ``geoadapter.json`` is validated when it is read;
`geoadapters.methods` holds the code that applies each method.
"""

import itertools
from typing import Annotated, ClassVar

from pydantic import Field
from pydantic.dataclasses import dataclass

from geoadapters._serde import SCHEMA, Settings
from geoadapters.errors import AdapterError

__all__ = [
    "FullSettings",
    "LinearProbeSettings",
    "LoraSettings",
    "MethodSettings",
    "ViTAdapterSettings",
    "VptSettings",
]

_TENSOR_NAME = r"^[A-Za-z_]\w*(\.\w+)*$"
# Upper bounds of what an adapter file may declare (far above the paper's settings), so that reading one
# never makes the process allocate without limit; the weights file's shapes are compared later.
_MAX_RANK = 1024
_MAX_PROMPTS = 4096
_MAX_WIDTH = 8192
_MAX_POINTS = 64
_MAX_TARGETS = 64
_MAX_RATIO = 16.0
_MAX_TENSORS = 4096

_Rate = Annotated[float, Field(ge=0, lt=1)]
_Ratio = Annotated[float, Field(gt=0, le=_MAX_RATIO)]
_ModuleName = Annotated[str, Field(min_length=1, max_length=100)]
_TensorName = Annotated[str, Field(max_length=200, pattern=_TENSOR_NAME)]


@dataclass(frozen=True, config=SCHEMA)
class MethodSettings(Settings):
    """Base of the method settings: `Settings` gives the JSON round trip (`to_dict`, `from_dict`).

    Attributes:
        name: Registry name of the method.
        description: One line for listings.
        carries_base_weights: Whether the adapter's tensors replace every base weight (a full
            fine-tune), so the official base weights are not needed to run it.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    carries_base_weights: ClassVar[bool] = False


@dataclass(frozen=True, config=SCHEMA)
class LoraSettings(MethodSettings):
    """LoRA (Hu et al. 2021, arXiv 2106.09685) settings; the defaults are the paper's.

    Attributes:
        r: Rank of the updates.
        lora_alpha: Scale numerator: updates are scaled by ``lora_alpha / r``.
        lora_dropout: Dropout on the LoRA input during training.
        target_modules: Module-name suffixes to adapt; None = the paper's targets of the family.
        split_qkv: Split fused qkv projections so that q, k and v can be targeted separately.
        replaced_tensors: Encoder tensors (state-dict names after LoRA is applied) that the adapter
            stores whole and that replace the base's: the biases and norms a converted full fine-tune
            changed (`geoadapters.convert`). Empty for LoRA as trained.
    """

    name: ClassVar[str] = "lora"
    description: ClassVar[str] = "low-rank updates of q, v and the MLP (r 16, alpha 16), via PEFT"
    r: Annotated[int, Field(ge=1, le=_MAX_RANK)] = 16
    lora_alpha: Annotated[float, Field(gt=0, le=1e6)] = 16.0
    lora_dropout: _Rate = 0.0
    target_modules: (
        Annotated[tuple[_ModuleName, ...], Field(min_length=1, max_length=_MAX_TARGETS)] | None
    ) = None
    split_qkv: bool = True
    replaced_tensors: Annotated[tuple[_TensorName, ...], Field(max_length=_MAX_TENSORS)] = ()


@dataclass(frozen=True, config=SCHEMA)
class VptSettings(MethodSettings):
    """Deep visual prompt tuning (Jia et al. 2022, arXiv 2203.12119) settings; the defaults are the paper's.

    Attributes:
        prompt_tokens: Prompt tokens per block.
        prompt_dropout: Dropout on the prompts during training.
    """

    name: ClassVar[str] = "vpt"
    description: ClassVar[str] = "100 prompt tokens per block (deep VPT)"
    prompt_tokens: Annotated[int, Field(ge=1, le=_MAX_PROMPTS)] = 100
    prompt_dropout: _Rate = 0.1


_INTERACTIONS = 4
_Block = Annotated[int, Field(ge=0, lt=128)]  # ViTs have 128 blocks at most


@dataclass(frozen=True, config=SCHEMA)
class ViTAdapterSettings(MethodSettings):
    """ViT-Adapter (Chen et al. 2022, arXiv 2205.08534) settings; defaults are the paper's and TerraTorch's.

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

    name: ClassVar[str] = "vit_adapter"
    description: ClassVar[str] = "spatial prior + deformable-attention injectors/extractors, 4 output scales"
    interaction_indexes: (
        Annotated[
            tuple[tuple[_Block, _Block], ...], Field(min_length=_INTERACTIONS, max_length=_INTERACTIONS)
        ]
        | None
    ) = None
    conv_inplane: Annotated[int, Field(ge=1, le=_MAX_WIDTH)] = 64
    n_points: Annotated[int, Field(ge=1, le=_MAX_POINTS)] = 4
    deform_num_heads: Annotated[int, Field(ge=1, le=256)] | None = None
    deform_ratio: _Ratio = 0.5
    init_values: Annotated[float, Field(ge=-1e6, le=1e6)] = 0.0
    with_cffn: bool = False
    cffn_ratio: _Ratio = 0.25
    add_vit_feature: bool = True
    use_extra_extractor: bool = True

    def __post_init__(self) -> None:
        if self.interaction_indexes is not None:
            pairs = self.interaction_indexes
            starts = [0] + [last + 1 for _, last in pairs[:-1]]
            if any(
                first != start or last < first for (first, last), start in zip(pairs, starts, strict=True)
            ):
                raise ValueError(
                    f"interaction_indexes must be consecutive chunks of blocks from block 0, such as "
                    f"((0, 5), (6, 11), (12, 17), (18, 23)); got {pairs}"
                )

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


@dataclass(frozen=True, config=SCHEMA)
class LinearProbeSettings(MethodSettings):
    """Linear probing: the encoder stays frozen and only the head trains; no settings."""

    name: ClassVar[str] = "linear_probe"
    description: ClassVar[str] = "frozen encoder; only the head trains"


@dataclass(frozen=True, config=SCHEMA)
class FullSettings(MethodSettings):
    """Full fine-tuning: every parameter trains, so the adapter carries every base weight; no settings."""

    name: ClassVar[str] = "full"
    description: ClassVar[str] = "every parameter trains"
    carries_base_weights: ClassVar[bool] = True
