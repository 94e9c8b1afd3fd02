"""`GeoModel`: a base encoder with an adapter and a task head, carrying its input contract.

This is what `geoadapters.create` and `geoadapters.load` return. It takes normalised input (see
`normalize`), pads it to what the encoder needs, and returns logits at the input's size. Its
adapter state (method tensors + head) is what adapter files hold; the frozen base weights are not.
"""

import dataclasses
import functools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from geoadapters.backbone import create_backbone
from geoadapters.config import AdapterConfig
from geoadapters.errors import AdapterError
from geoadapters.heads.build import build_head
from geoadapters.heads.head import Head
from geoadapters.hub.folder import write_adapter
from geoadapters.methods.adapt import add_adapter
from geoadapters.methods.batched import BatchedEncoder
from geoadapters.methods.method import EncoderFn, Method, check_tensors
from geoadapters.methods.registry import get_method
from geoadapters.models.encoder import Encoder
from geoadapters.specs import InputSpec

__all__ = ["ENCODER_PREFIX", "HEAD_PREFIX", "GeoModel", "build_model"]

# Names of adapter tensors in files: encoder tensors under PEFT's prefix (so PEFT reads LoRA files
# as they are), head tensors under "head.".
ENCODER_PREFIX = "base_model.model."
HEAD_PREFIX = "head."


class GeoModel(nn.Module):
    """Encoder (with its adapter) + head + the config that describes both.

    Args:
        encoder: Adapted encoder (see `geoadapters.add_adapter`).
        head: Task head (see `geoadapters.heads.build_head`).
        config: The adapter's config; its input contract says how to prepare data.
        merged: The encoder is the plain base with the adapter folded into its weights
            (`build_model(merged=True)`): for inference only; its adapter state cannot be read back.
    """

    def __init__(self, encoder: Encoder, head: Head, config: AdapterConfig, *, merged: bool = False) -> None:
        super().__init__()
        multiple = config.padding.multiple
        if multiple is not None and multiple % encoder.features.input_multiple:
            raise AdapterError(
                f"padding to a multiple of {multiple} px does not fit the encoder, whose input sides must be "
                f"multiples of {encoder.features.input_multiple} px"
            )
        self.encoder = encoder
        self.head = head
        self.config = config
        self.merged = merged

    @property
    def method(self) -> Method:
        """The adapter method's record: how its state is read and written, whether it merges."""
        return get_method(self.config.method.name)

    @property
    def input_spec(self) -> InputSpec:
        """Bands, scaling, normalisation, nodata and GSD the model expects."""
        return self.config.input

    @property
    def classes(self) -> tuple[str, ...]:
        """Class names in output order."""
        return self.config.classes

    def normalize(self, raw: Tensor) -> Tensor:
        """Model input from raw band values (B, C, [T,] H, W) in the band order of `input_spec`.

        Nodata pixels become 0, the mean after normalisation, or take the contract's ``nodata_fill``.
        """
        spec = self.input_spec
        shape = (1, -1) + (1,) * (raw.ndim - 2)
        mean = torch.tensor(spec.mean, dtype=torch.float32, device=raw.device).view(shape)
        std = torch.tensor(spec.std, dtype=torch.float32, device=raw.device).view(shape)
        values = raw.float()
        if spec.nodata is not None and spec.nodata_fill is not None:
            values = values.masked_fill(raw == spec.nodata, spec.nodata_fill)
        x = (values * spec.scale - mean) / std
        if spec.nodata is not None and spec.nodata_fill is None:
            x = x.masked_fill(raw == spec.nodata, 0.0)
        return x

    def forward(self, x: Tensor, **metadata: Any) -> Tensor:
        """Logits (B, classes, H, W) for segmentation, (B, classes) for multi-label tasks.

        Args:
            x: Normalised input (B, C, H, W), or (B, C, T, H, W) for multi-date Prithvi models.
            **metadata: Passed to the encoder (``temporal_coords``/``location_coords`` for Prithvi -TL,
                ``time``/``latlon``/``gsd`` for Clay; Clay's gsd defaults to the input contract's).
        """
        return self.forward_heads(x, [self.head], **metadata)[0]

    def forward_heads(self, x: Tensor, heads: Sequence[Head], **metadata: Any) -> list[Tensor]:
        """The logits of several heads on one pass of this encoder (see `forward`), in order."""
        return self.forward_segments(x, self.encoder, [heads], **metadata)[0]

    def forward_segments(
        self,
        x: Tensor,
        encoder: Encoder | BatchedEncoder,
        heads: Sequence[Sequence[Head]],
        **metadata: Any,
    ) -> list[list[Tensor]]:
        """The logits of each segment's heads on one pass of `encoder`, input prepared as this model's.

        The encoder is this model's (one segment) or a batched one whose features hold one segment
        after another (`geoadapters.methods.batched.BatchedEncoder`).
        """
        height, width = x.shape[-2:]
        padding = self.config.padding
        multiple = padding.multiple or self.encoder.features.input_multiple
        pad_h, pad_w = -height % multiple, -width % multiple
        top, left = (pad_h // 2, pad_w // 2) if padding.centred else (0, 0)
        if pad_h or pad_w:
            flat = x.flatten(1, -3) if x.ndim == 5 else x
            flat = F.pad(flat, (left, pad_w - left, top, pad_h - top), mode=padding.mode)
            x = flat.view(*x.shape[:-2], height + pad_h, width + pad_w)
        metadata = self.encoder.forward_defaults(self.input_spec) | metadata
        features = encoder.forward_features(x, **metadata)
        batch, out = x.shape[0], list[list[Tensor]]()
        for g, segment in enumerate(heads):
            own = [f[g * batch : (g + 1) * batch] for f in features] if len(heads) > 1 else features
            out.append([])
            for head in segment:
                logits: Tensor = head(own, (height + pad_h, width + pad_w))
                out[-1].append(
                    logits[..., top : top + height, left : left + width] if logits.ndim == 4 else logits
                )
        return out

    # --- adapter state -------------------------------------------------------------------------

    def adapter_state_dict(self) -> dict[str, Tensor]:
        """The adapter's tensors under their file names: method tensors and the whole head.

        Raises:
            AdapterError: The adapter is merged into the base weights (`merged`).
        """
        if self.merged:
            raise AdapterError(
                "this model has its adapter merged into the base weights (load(..., merged=True)), for "
                "inference only: load it without merged=True to save or train it"
            )
        state = {ENCODER_PREFIX + k: v for k, v in self.method.state_dict(self.encoder).items()}
        state |= {HEAD_PREFIX + k: v for k, v in self.head.state_dict().items()}
        return state

    def adapter_shapes(self) -> dict[str, tuple[int, ...]]:
        """Names and shapes of the tensors of this model's adapter file (merged or not)."""
        if not self.merged:
            return {k: tuple(v.shape) for k, v in self.adapter_state_dict().items()}
        assert self.method.merged_shapes is not None
        shapes = self.method.merged_shapes(self.encoder, self.config.method)
        return {ENCODER_PREFIX + k: v for k, v in shapes.items()} | {
            HEAD_PREFIX + k: tuple(v.shape) for k, v in self.head.state_dict().items()
        }

    def load_adapter_state_dict(self, state: Mapping[str, Tensor]) -> None:
        """Load tensors written by `adapter_state_dict` (merged into the base weights if `merged`).

        Raises:
            AdapterError: The tensors are not exactly this adapter's (names and shapes).
        """
        encoder_state = {
            k[len(ENCODER_PREFIX) :]: v for k, v in state.items() if k.startswith(ENCODER_PREFIX)
        }
        head_state = {k[len(HEAD_PREFIX) :]: v for k, v in state.items() if k.startswith(HEAD_PREFIX)}
        if self.merged:
            assert self.method.load_merged is not None
            own = {HEAD_PREFIX + k: v for k, v in self.head.state_dict().items()}
            check_tensors(own, {k: v for k, v in state.items() if not k.startswith(ENCODER_PREFIX)})
            self.method.load_merged(self.encoder, self.config.method, encoder_state)
        else:
            check_tensors(self.adapter_state_dict(), state)
            self.method.load_state_dict(self.encoder, encoder_state)
        self.head.load_state_dict(head_state)

    def save_pretrained(
        self,
        folder: str | Path,
        *,
        metrics: Mapping[str, Any] | None = None,
        provenance: Mapping[str, Any] | None = None,
        overwrite: bool = False,
    ) -> Path:
        """Write the adapter folder: geoadapter.json, adapter_model.safetensors, card, the method's files.

        Args:
            folder: The folder to write; it appears whole or not at all.
            metrics: Evaluation results to record, e.g. ``{"test": {"mIoU": 93.3}}``; replace the config's.
            provenance: Dataset, recipe, versions...; added to the config's.
            overwrite: Replace an existing folder.

        Raises:
            OutputExistsError: `folder` exists and `overwrite` is False.
        """
        config = dataclasses.replace(
            self.config,
            metrics=dict(self.config.metrics if metrics is None else metrics),
            provenance=dict(self.config.provenance) | dict(provenance or {}),
        )
        write = self.method.write_files
        extra = None if write is None else functools.partial(write, self.encoder, self.config.method)
        return write_adapter(
            folder, config, self.adapter_state_dict(), write_extra=extra, overwrite=overwrite
        )

    # --- merging into the base weights -----------------------------------------------------------

    def _merger(self, hook: EncoderFn | None) -> EncoderFn:
        if hook is None:
            raise AdapterError(
                f"{self.config.method.name} adapters do not merge into the base weights; LoRA does"
            )
        return hook

    def merge_adapter(self) -> None:
        """Add the adapter's updates into the base weights for inference; `unmerge_adapter` undoes it."""
        if not self.merged:
            self._merger(self.method.merge)(self.encoder)

    def unmerge_adapter(self) -> None:
        """Take merged updates out of the base weights again (not for a model built `merged`)."""
        if self.merged:
            raise AdapterError("this model was built with its adapter merged for good; load it unmerged")
        self._merger(self.method.unmerge)(self.encoder)

    def merge_and_unload(self) -> "GeoModel":
        """Merge for good: the encoder becomes exactly the base architecture (for export)."""
        if not self.merged:
            self._merger(self.method.unload)(self.encoder)
        return self


def build_model(
    config: AdapterConfig,
    *,
    checkpoint: str | Path | None = None,
    pretrained: bool = True,
    base_revision: str | None = None,
    merged: bool = False,
) -> GeoModel:
    """The model an adapter config describes, with base weights but a freshly initialised adapter.

    The base weights are the catalog's (at its pinned revision, or `base_revision`); the revision the
    config records is not used: anyone can publish an adapter naming any revision. With `merged`, a
    method that merges from files (`Method.load_merged`, LoRA) is not attached: the encoder stays the
    plain base, into which `GeoModel.load_adapter_state_dict` folds the adapter's tensors (inference
    only); other methods are attached as usual.
    """
    encoder = create_backbone(
        config.base.name,
        checkpoint,
        pretrained=pretrained,
        revision=base_revision,
        bands=config.input.bands,
        **config.base.overrides,
    )
    merged = merged and get_method(config.method.name).load_merged is not None
    if merged:
        encoder.adapter_method = config.method.name
    else:
        encoder = add_adapter(encoder, config.method.name, **config.method.to_dict())
    head = build_head(config.head.name, encoder, len(config.classes), **config.head.to_dict())
    return GeoModel(encoder, head, config, merged=merged)
