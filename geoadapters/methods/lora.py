"""LoRA (Hu et al. 2021, arXiv 2106.09685) on the ViT encoders, through PEFT, set up as the paper does.

The paper (section 3) splits each fused qkv projection into q, k and v Linears (TerraTorch's
``replace_qkv``/``QKVSep``) so that LoRA adapts queries and values only, with rank 16 and alpha 16 on
q, v and both MLP Linears; each encoder class names its targets (`Encoder.lora_targets`). The split
copies the weights, so the encoder computes the same function. Merging adds the low-rank updates into
the base weights; unloading also re-fuses q/k/v, which gives back exactly the base architecture.

For inference alone, `merged_shapes` and `load_merged` read an adapter file straight into the plain
base encoder, ``W += (B @ A) * lora_alpha / r`` per target as PEFT merges (``LoraLayer.merge``), with
PEFT's module matching and file names: the same weights as loading through PEFT and merging, without
importing PEFT (and transformers), seconds per process.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from geoadapters.errors import AdapterError, MissingDependencyError
from geoadapters.methods.batched import LowRank, Segment
from geoadapters.methods.method import Method, check_tensors
from geoadapters.methods.settings import LoraSettings
from geoadapters.models.encoder import Encoder

if TYPE_CHECKING:
    from peft import LoraConfig

__all__ = ["LORA", "QKVSplit", "apply_lora", "load_merged", "merged_shapes", "peft_config"]


class QKVSplit(nn.Module):
    """A fused qkv Linear (out = 3 x in) as three Linears whose outputs are concatenated.

    Their weights and biases are views of the fused ones (no copy): an encoder split this way shares
    its base weights with every other encoder made from the same tensors (`geoadapters.AdapterSet`).
    """

    # Registered with add_module below; PEFT wraps them in its LoRA layers while LoRA is injected.
    q_linear: nn.Linear
    k_linear: nn.Linear
    v_linear: nn.Linear

    def __init__(self, fused: nn.Linear) -> None:
        super().__init__()
        dim = fused.in_features
        if fused.out_features != 3 * dim:
            raise AdapterError(f"a fused qkv projection maps {dim} -> {3 * dim}, not {fused.out_features}")
        for i, name in enumerate(("q_linear", "k_linear", "v_linear")):
            layer = nn.Linear(dim, dim, bias=False, device="meta")
            rows = slice(i * dim, (i + 1) * dim)
            layer.weight = nn.Parameter(fused.weight.data[rows], requires_grad=fused.weight.requires_grad)
            if fused.bias is not None:
                layer.bias = nn.Parameter(fused.bias.data[rows], requires_grad=fused.bias.requires_grad)
            self.add_module(name, layer)

    def forward(self, x: Tensor) -> Tensor:
        """q, k and v concatenated, as the fused projection returns them."""
        return torch.cat([self.q_linear(x), self.k_linear(x), self.v_linear(x)], dim=-1)

    def fuse(self) -> nn.Linear:
        """The equivalent fused Linear (call after merging LoRA updates)."""
        parts: list[nn.Linear] = [self.q_linear, self.k_linear, self.v_linear]
        weight = torch.cat([p.weight.data for p in parts])
        fused = nn.Linear(weight.shape[1], weight.shape[0], bias=parts[0].bias is not None, device="meta")
        fused.weight = nn.Parameter(weight, requires_grad=parts[0].weight.requires_grad)
        if parts[0].bias is not None:
            fused.bias = nn.Parameter(torch.cat([p.bias.data for p in parts]), parts[0].bias.requires_grad)
        return fused


def _replace(root: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    setattr(root.get_submodule(parent_name) if parent_name else root, child, module)


def peft_config(settings: LoraSettings, encoder: Encoder) -> "LoraConfig":
    """The PEFT `LoraConfig` of these settings, naming the base weights the adapter belongs to.

    Raises:
        MissingDependencyError: PEFT is not installed.
        AdapterError: The encoder has no LoRA targets and none are given.
    """
    try:
        from peft import LoraConfig
    except ImportError as err:
        raise MissingDependencyError("LoRA", extra="peft") from err
    targets = settings.target_modules or encoder.lora_targets
    if not targets:
        raise AdapterError(f"LoRA does not apply to {encoder.spec.name}: it names no modules to adapt")
    return LoraConfig(
        r=settings.r,
        # PEFT annotates lora_alpha as int but only divides by it (scale lora_alpha / r): floats work.
        lora_alpha=settings.lora_alpha,  # type: ignore[arg-type]
        lora_dropout=settings.lora_dropout,
        target_modules=list(targets),
        bias="none",
        base_model_name_or_path=encoder.spec.weights.repo_id,
        revision=encoder.spec.weights.revision,
    )


def apply_lora(encoder: Encoder, settings: LoraSettings) -> Encoder:
    """Inject LoRA into `encoder` in place; only the LoRA matrices stay trainable."""
    config = peft_config(settings, encoder)
    from peft import inject_adapter_in_model

    suffix = encoder.fused_qkv
    if settings.split_qkv and suffix is not None:
        for name, module in list(encoder.named_modules()):
            if name.endswith(suffix) and isinstance(module, nn.Linear):
                _replace(encoder, name, QKVSplit(module))
    for parameter in encoder.parameters():
        parameter.requires_grad_(False)
    encoder.__dict__["lora_settings"] = settings  # plain data, not a submodule: kept out of state dicts
    try:
        inject_adapter_in_model(config, encoder)
    except ValueError as err:
        raise AdapterError(
            f"LoRA targets {config.target_modules} do not fit {encoder.spec.name}: {err}"
        ) from err
    return encoder


def _lora_layers(encoder: Encoder) -> list[tuple[str, Any]]:
    from peft.tuners.lora import LoraLayer

    return [(name, m) for name, m in encoder.named_modules() if isinstance(m, LoraLayer)]


def merge_lora(encoder: Encoder) -> None:
    """Add the LoRA updates into the base weights (faster inference); `unmerge_lora` undoes it."""
    for _, layer in _lora_layers(encoder):
        if not layer.merged:
            layer.merge()


def unmerge_lora(encoder: Encoder) -> None:
    """Subtract merged LoRA updates from the base weights again."""
    for _, layer in _lora_layers(encoder):
        if layer.merged:
            layer.unmerge()


def unload_lora(encoder: Encoder) -> None:
    """Merge, remove the LoRA layers and re-fuse q/k/v: the encoder is the base architecture again."""
    for name, layer in _lora_layers(encoder):
        if not layer.merged:
            layer.merge()
        _replace(encoder, name, layer.get_base_layer())
    for name, module in list(encoder.named_modules()):
        if isinstance(module, QKVSplit):
            _replace(encoder, name, module.fuse())
    if hasattr(encoder, "peft_config"):
        del encoder.peft_config


def _replaced(encoder: Encoder) -> tuple[str, ...]:
    settings = getattr(encoder, "lora_settings", None)
    return settings.replaced_tensors if isinstance(settings, LoraSettings) else ()


def lora_state_dict(encoder: Encoder) -> dict[str, Tensor]:
    """The LoRA tensors under PEFT's file names (``...q_linear.lora_A.weight``), and the replaced tensors.

    Replaced tensors (`LoraSettings.replaced_tensors`) keep their module names, which PEFT's
    ``set_peft_model_state_dict`` loads into the base model as they are.

    Raises:
        AdapterError: A replaced tensor that the encoder does not have.
    """
    from peft import get_peft_model_state_dict

    # save_embedding_layers=False: PEFT would otherwise look up the base's config.json on the Hub
    state: dict[str, Tensor] = get_peft_model_state_dict(encoder, save_embedding_layers=False)
    own = encoder.state_dict()
    missing = [name for name in _replaced(encoder) if name not in own or name in state]
    if missing:
        raise AdapterError(f"replaced_tensors name {missing[0]!r}, which is no base tensor of this encoder")
    return state | {name: own[name] for name in _replaced(encoder)}


def load_lora_state_dict(encoder: Encoder, state: Mapping[str, Tensor]) -> None:
    """Load LoRA tensors written by `lora_state_dict` (or PEFT) into an encoder with LoRA applied."""
    from peft import set_peft_model_state_dict

    check_tensors(lora_state_dict(encoder), state)
    replaced = set(_replaced(encoder))
    set_peft_model_state_dict(encoder, {k: v for k, v in state.items() if k not in replaced})
    encoder.load_state_dict({k: state[k] for k in replaced}, strict=False)


def write_peft_config(encoder: Encoder, settings: LoraSettings, folder: Path) -> None:
    """PEFT's ``adapter_config.json``, so that ``PeftModel.from_pretrained`` reads the folder too."""
    peft_config(settings, encoder).save_pretrained(str(folder))


@dataclass(frozen=True)
class _Slot:
    """Rows of a plain encoder's tensor that a tensor of the LoRA-adapted encoder stands for."""

    tensor: Tensor
    rows: slice

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.tensor[self.rows].shape)


def _layout(encoder: Encoder, settings: LoraSettings) -> tuple[dict[str, _Slot], dict[str, _Slot]]:
    """PEFT's view of a plain encoder: the Linears LoRA targets, and the adapted encoder's tensors.

    Returns:
        The targeted Linears by the adapted encoder's module names (a split q/k/v is the rows of its
        fused Linear's weight), and every tensor by its name in the adapted encoder's state dict
        (``...q_linear.base_layer.weight``).

    Raises:
        AdapterError: The encoder has no LoRA targets, or the targets match no Linear.
    """
    targets = settings.target_modules or encoder.lora_targets
    if not targets:
        raise AdapterError(f"LoRA does not apply to {encoder.spec.name}: it names no modules to adapt")
    suffix = encoder.fused_qkv if settings.split_qkv else None
    linears: dict[str, tuple[nn.Linear, slice]] = {}
    for name, module in encoder.named_modules():
        if not isinstance(module, nn.Linear):
            continue
        dim = module.in_features
        if suffix is not None and name.endswith(suffix):
            if module.out_features != 3 * dim:
                raise AdapterError(
                    f"a fused qkv projection maps {dim} -> {3 * dim}, not {module.out_features}"
                )
            for i, part in enumerate(("q_linear", "k_linear", "v_linear")):
                linears[f"{name}.{part}"] = (module, slice(i * dim, (i + 1) * dim))
        else:
            linears[name] = (module, slice(None))
    # PEFT's match for a list of targets: the module name itself, or a suffix after a dot
    hit = [n for n in linears if n in targets or any(n.endswith(f".{t}") for t in targets)]
    if not hit:
        raise AdapterError(f"LoRA targets {list(targets)} do not fit {encoder.spec.name}: no Linear matches")
    tensors: dict[str, _Slot] = {}
    owned: set[int] = set()
    for name, (module, rows) in linears.items():
        prefix = f"{name}.base_layer" if name in hit else name
        for kind in ("weight", "bias"):
            tensor = getattr(module, kind)
            if tensor is not None:
                tensors[f"{prefix}.{kind}"] = _Slot(tensor, rows)
                owned.add(id(tensor))
    for name, tensor in encoder.state_dict(keep_vars=True).items():
        if id(tensor) not in owned:
            tensors[name] = _Slot(tensor, slice(None))
    return {n: _Slot(linears[n][0].weight, linears[n][1]) for n in hit}, tensors


def merged_shapes(encoder: Encoder, settings: LoraSettings) -> dict[str, tuple[int, ...]]:
    """Names and shapes of the tensors of an adapter file for a plain `encoder` (as `lora_state_dict`)."""
    targets, tensors = _layout(encoder, settings)
    shapes: dict[str, tuple[int, ...]] = {}
    for name, slot in targets.items():
        out_features, in_features = slot.shape
        shapes[f"{name}.lora_A.weight"] = (settings.r, in_features)
        shapes[f"{name}.lora_B.weight"] = (out_features, settings.r)
    missing = [name for name in settings.replaced_tensors if name not in tensors or name in shapes]
    if missing:
        raise AdapterError(f"replaced_tensors name {missing[0]!r}, which is no base tensor of this encoder")
    return shapes | {name: tensors[name].shape for name in settings.replaced_tensors}


def load_merged(encoder: Encoder, settings: LoraSettings, state: Mapping[str, Tensor]) -> None:
    """Merge an adapter file's tensors into a plain `encoder`'s weights, in place (as PEFT merges them).

    The replaced tensors replace the base's, then each target's weight gains ``(B @ A) * alpha / r``.

    Raises:
        AdapterError: The tensors are not exactly those of `merged_shapes`.
    """
    expected = {k: torch.empty(v, device="meta") for k, v in merged_shapes(encoder, settings).items()}
    check_tensors(expected, state)
    targets, tensors = _layout(encoder, settings)
    scaling = settings.lora_alpha / settings.r
    copied: set[int] = set()

    def writable(slot: _Slot) -> Tensor:
        # Weights from a memory-mapped checkpoint are copied on write page by page, ten times slower than
        # writing a copy of the whole tensor: copy each tensor once before changing it.
        if id(slot.tensor) not in copied:
            slot.tensor.data = slot.tensor.data.clone()
            copied.add(id(slot.tensor))
        return slot.tensor[slot.rows]

    with torch.no_grad():
        for name in settings.replaced_tensors:
            writable(tensors[name])[...] = state[name]
        for name, slot in targets.items():
            b, a = (state[f"{name}.lora_{x}.weight"].to(slot.tensor.dtype) for x in "BA")
            writable(slot).addmm_(b, a, alpha=scaling)  # W + (B @ A) * scaling, in one pass


def lora_segment(encoder: Encoder) -> Segment | None:
    """The low-rank updates of an unmerged LoRA encoder, for a batched pass (`methods.batched`).

    A split q/k/v Linear's update is one of rows of the fused base Linear. None when the adapter
    replaces base tensors or has other than plain LoRA Linears: it runs its own encoder.
    """
    from peft.tuners.lora import Linear

    if _replaced(encoder):
        return None
    updates = []
    for name, layer in _lora_layers(encoder):
        if type(layer) is not Linear or layer.merged or layer.lora_variant or len(layer.lora_A) != 1:
            return None
        (key,) = layer.lora_A
        parent_name, _, part = name.rpartition(".")
        parent = encoder.get_submodule(parent_name)
        a, b = layer.lora_A[key].weight, layer.lora_B[key].weight
        assert isinstance(a, Tensor) and isinstance(b, Tensor)
        module, rows = name, slice(None)
        if isinstance(parent, QKVSplit):  # its part's rows of the fused Linear
            index, dim = ("q_linear", "k_linear", "v_linear").index(part), b.shape[0]
            module, rows = parent_name, slice(index * dim, (index + 1) * dim)
        updates.append(LowRank(module, rows, a, b, float(layer.scaling[key])))
    return Segment(low_rank=tuple(updates))


def _fits(encoder: Encoder, settings: LoraSettings) -> str | None:
    if settings.target_modules or encoder.lora_targets:
        return None
    return "it names no modules to adapt (give target_modules)"


LORA = Method(
    apply=apply_lora,
    state_dict=lora_state_dict,
    load_state_dict=load_lora_state_dict,
    merge=merge_lora,
    unmerge=unmerge_lora,
    unload=unload_lora,
    write_files=write_peft_config,
    merged_shapes=merged_shapes,
    load_merged=load_merged,
    fits=_fits,
    segment=lora_segment,
)
