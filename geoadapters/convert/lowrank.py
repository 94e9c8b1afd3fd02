"""A full fine-tune as a LoRA adapter on the official base: truncated SVD of each weight's change.

For every Linear of the ViT blocks (q, k and v of the split qkv, the attention projection, both MLP
layers) the fine-tune's change ``W_ft - W_base`` is replaced by its best rank-``r`` approximation in
the Frobenius norm (Eckart-Young): ``lora_B @ lora_A = U_r S_r V_r^T`` with ``lora_alpha = r`` (scale
1). Other encoder tensors that changed (biases, norms, the patch embedding, the class token) are stored
as they are (`LoraSettings.replaced_tensors`); the head is copied. Rank 0 keeps only the head: a
linear probe on the frozen base. The result is a normal ``lora`` adapter, which PEFT reads too.
"""

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from geoadapters.errors import ConversionError
from geoadapters.geomodel import GeoModel
from geoadapters.methods.registry import method_settings

__all__ = ["Agreement", "LowRankReport", "agreement", "to_lora"]

# The ViT Linears whose change becomes LoRA (module-name suffixes after the qkv split).
TARGETS = ("qkv.q_linear", "qkv.k_linear", "qkv.v_linear", "attn.proj", "mlp.fc1", "mlp.fc2")
# The same Linears in the fine-tune, before the qkv split.
_FUSED = ("attn.qkv", "attn.proj", "mlp.fc1", "mlp.fc2")


@dataclass(frozen=True)
class Agreement:
    """How closely a converted model follows the original on some inputs.

    Attributes:
        max_logit_error: Largest absolute logit difference.
        pixel_agreement: Share of pixels (or labels) with the same predicted class.
    """

    max_logit_error: float
    pixel_agreement: float


@dataclass(frozen=True)
class LowRankReport:
    """What a rank-r conversion kept.

    Attributes:
        rank: LoRA rank (0: head only).
        energy_kept: Share of the encoder Linears' change kept, sum of kept squared singular values
            over the sum of all (1.0 when nothing changed).
        replaced_tensors: Number of other encoder tensors stored as they are.
        agreement: Agreement with the full fine-tune on the inputs given to `to_lora`.
    """

    rank: int
    energy_kept: float
    replaced_tensors: int
    agreement: Agreement

    def metrics(self) -> dict[str, float]:
        """The figures as ``geoadapter.json`` metrics (under the ``conversion`` split)."""
        return {
            "max_logit_error": self.agreement.max_logit_error,
            "pixel_agreement": self.agreement.pixel_agreement,
            "delta_energy_kept": self.energy_kept,
        }


def agreement(reference: GeoModel, converted: GeoModel, inputs: Tensor) -> Agreement:
    """Max logit error and class agreement of `converted` against `reference` on normalised `inputs`."""
    with torch.inference_mode():
        expected, got = reference.eval()(inputs), converted.eval()(inputs)
    return Agreement(
        float((expected - got).abs().max()),
        float((expected.argmax(1) == got.argmax(1)).float().mean()),
    )


def _fine_tuned(state: Mapping[str, Tensor], name: str, dim: int) -> Tensor:
    """The fine-tune's tensor for a name of the LoRA encoder (qkv split, PEFT's ``base_layer``)."""
    name = name.replace(".base_layer.", ".")
    for i, part in enumerate(("q_linear", "k_linear", "v_linear")):
        marker = f".qkv.{part}."
        if marker in name:
            fused = state[name.replace(marker, ".qkv.")]
            return fused[i * dim : (i + 1) * dim]
    return state[name]


def _low_rank(delta: Tensor, rank: int) -> tuple[Tensor, Tensor, float, float]:
    """lora_A (r, in), lora_B (out, r) of the rank-r truncated SVD, kept and total squared singular values."""
    u, s, vh = torch.linalg.svd(delta.double(), full_matrices=False)
    r = min(rank, s.numel())
    root = s[:r].sqrt()
    lora_b = torch.zeros(delta.shape[0], rank, dtype=torch.float64)
    lora_a = torch.zeros(rank, delta.shape[1], dtype=torch.float64)
    lora_b[:, :r] = u[:, :r] * root
    lora_a[:r] = root[:, None] * vh[:r]
    power = s.square()
    return lora_a.to(delta.dtype), lora_b.to(delta.dtype), float(power[:r].sum()), float(power.sum())


def to_lora(
    model: GeoModel,
    rank: int,
    *,
    base_checkpoint: str | Path | None = None,
    inputs: Tensor | None = None,
    inputs_from: str = "",
) -> tuple[GeoModel, LowRankReport]:
    """A full fine-tune (`from_terratorch`, or any ``full`` adapter) as a LoRA adapter on its official base.

    Args:
        model: The fine-tune, method ``full``.
        rank: LoRA rank of every encoder Linear's change; 0 keeps the head only (``linear_probe``).
        base_checkpoint: Local copy of the official base weights (else the Hub's, cached).
        inputs: Normalised inputs to measure the agreement on; default two random 224 px tiles.
        inputs_from: What the inputs are (file names of real chips), for the provenance.

    Returns:
        The converted model (eval mode; its config records the figures as metrics and provenance)
        and the report.

    Raises:
        ConversionError: `model` is no full fine-tune, or the rank is negative.
    """
    from geoadapters.geomodel import build_model

    if not model.config.method.carries_base_weights:
        raise ConversionError(
            f"only full fine-tunes convert to LoRA; this is a {model.config.method.name} adapter"
        )
    if rank < 0:
        raise ConversionError(f"the LoRA rank must be 0 or more, got {rank}")
    fine_tuned = {k: v.detach() for k, v in model.encoder.state_dict().items()}
    if rank == 0:
        method = method_settings("linear_probe")
        changed: list[str] = []
    else:
        probe = build_model(
            dataclasses.replace(model.config, method=_lora(rank, ())), checkpoint=base_checkpoint
        )
        base = probe.encoder.state_dict()
        own = {n for n in base if ".lora_A." in n or ".lora_B." in n}
        targets = {n for n in base if n.endswith(".base_layer.weight") and any(t in n for t in TARGETS)}
        dim = model.encoder.features.channels[0]
        changed = [
            n
            for n, v in base.items()
            if n not in own and n not in targets and not torch.equal(_fine_tuned(fine_tuned, n, dim), v)
        ]
        method = _lora(rank, tuple(changed))
    config = dataclasses.replace(model.config, method=method)
    converted = build_model(config, checkpoint=base_checkpoint)
    converted.head.load_state_dict(model.head.state_dict())
    kept = total = 0.0
    if rank:
        encoder_state = converted.encoder.state_dict()
        updates = {}
        for name in targets:
            module = name.removesuffix(".base_layer.weight")
            delta = _fine_tuned(fine_tuned, name, dim) - encoder_state[name]
            lora_a, lora_b, k, t = _low_rank(delta, rank)
            updates[f"{module}.lora_A.default.weight"] = lora_a
            updates[f"{module}.lora_B.default.weight"] = lora_b
            kept, total = kept + k, total + t
        updates |= {n: _fine_tuned(fine_tuned, n, dim) for n in changed}
        converted.encoder.load_state_dict(updates, strict=False)
    else:  # nothing kept: the whole change is the Linears' difference from the base
        base_state = converted.encoder.state_dict()
        linears = [n for n in fine_tuned if any(n.endswith(f"{t}.weight") for t in _FUSED)]
        total = sum(float((fine_tuned[n] - base_state[n]).double().square().sum()) for n in linears)
    if inputs is None:
        inputs_from = "two 224 px tiles of standard normal noise (normalised units)"
        inputs = torch.randn(2, len(config.input.bands), 224, 224, generator=torch.Generator().manual_seed(0))
    report = LowRankReport(
        rank, kept / total if total else 1.0, len(changed), agreement(model, converted, inputs)
    )
    converted.config = dataclasses.replace(
        config,
        metrics={"conversion": report.metrics()},
        provenance=dict(config.provenance) | {"conversion": _provenance(report, inputs, inputs_from)},
    )
    return converted.eval(), report


def _lora(rank: int, replaced: tuple[str, ...]) -> Any:
    return method_settings(
        "lora", r=rank, lora_alpha=float(rank), target_modules=TARGETS, replaced_tensors=replaced
    )


def _provenance(report: LowRankReport, inputs: Tensor, inputs_from: str) -> dict[str, Any]:
    return {
        "rank": report.rank,
        "method": "truncated SVD of each encoder Linear's change from the base (lora_alpha = r)"
        if report.rank
        else "head and necks only, on the frozen base",
        "replaced_tensors": report.replaced_tensors,
        "agreement_inputs": {"shape": list(inputs.shape), "from": inputs_from},
    }
