"""`AdapterSet`: several adapters on one base give what each gives alone, and share the base tensors."""

import pytest
import torch

import geoadapters
from geoadapters import AdapterSet
from geoadapters.errors import AdapterError
from tests.conftest import TEST_BASE, perturbed_model

# Two adapters of each sharing method, with different settings and heads; LoRA's second one also
# replaces base tensors (a changed bias and norm, as `convert --rank` writes them).
ADAPTERS = {
    "lora": ("lora", "linear", {}),
    "lora_replacing": (
        "lora",
        "fcn",
        {"r": 4, "replaced_tensors": ("blocks.1.attn.qkv.q_linear.base_layer.bias", "blocks.2.norm1.weight")},
    ),
    "lora_rank4": ("lora", "fcn", {"r": 4}),
    "vpt": ("vpt", "linear", {"prompt_tokens": 5}),
    "vpt_again": ("vpt", "fcn", {"prompt_tokens": 5}),
    "vpt_upernet": ("vpt", "upernet", {"prompt_tokens": 3}),
    "probe": ("linear_probe", "linear", {}),
    "probe_fcn": ("linear_probe", "fcn", {}),
    "vit_adapter": ("vit_adapter", "linear", {}),
}


@pytest.fixture(scope="module")
def folders(tmp_path_factory, checkpoint):
    root = tmp_path_factory.mktemp("adapters")
    out = {}
    for name, (method, head, settings) in ADAPTERS.items():
        model = perturbed_model(method, head, checkpoint, **settings)
        with torch.no_grad():  # the replaced base tensors change too
            for tensor_name in settings.get("replaced_tensors", ()):
                model.encoder.get_parameter(tensor_name).add_(0.1)
            if name == "vpt_again":  # the same seed drew the same prompts as "vpt"'s: make them differ
                for prompt in model.encoder.vpt.prompts:
                    prompt.mul_(-1.5)
        out[name] = model.save_pretrained(root / name)
    return out


@pytest.fixture(scope="module")
def resident(folders, checkpoint):
    models = AdapterSet(TEST_BASE, checkpoint=checkpoint)
    for name, folder in folders.items():
        models.add(name, folder)
    return models


def _input(resident, raw):
    return resident["lora"].normalize(raw)


def test_each_adapter_gives_what_it_gives_alone(resident, folders, checkpoint, chip):
    x = _input(resident, chip[0])
    with torch.no_grad():
        for name, folder in folders.items():
            alone = geoadapters.load(TEST_BASE, folder, checkpoint=checkpoint)
            torch.testing.assert_close(resident(x, adapter=name), alone(x), rtol=0, atol=1e-5, msg=name)


def test_switching_back_and_forth_gives_the_same_results(resident, chip):
    x = _input(resident, chip[0])
    with torch.no_grad():
        first = {name: resident(x, adapter=name) for name in resident}
        for name in [*reversed(list(resident)), *resident]:
            assert torch.equal(resident(x, adapter=name), first[name]), name


def test_base_tensors_are_shared_and_adapter_tensors_are_not(resident):
    base = {t.untyped_storage().data_ptr() for t in (*resident.base.parameters(), *resident.base.buffers())}
    for name in resident:
        model = resident[name]
        encoder = {t.untyped_storage().data_ptr() for t in model.encoder.state_dict(keep_vars=True).values()}
        own = {t.untyped_storage().data_ptr() for t in model.adapter_state_dict().values()}
        # the rest of the encoder is the base's memory; the adapter's tensors (replaced ones too) its own
        assert encoder - own <= base, name
        assert not own & base, name
        if name != "lora_replacing":
            assert encoder - own == base, name
    # memory: the base once, plus what the adapters hold
    held = {
        t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in resident.state_dict().values()
    }
    base_bytes = sum(t.untyped_storage().nbytes() for t in resident.base.state_dict().values())
    adapters = sum(t.nbytes for n in resident for t in resident[n].adapter_state_dict().values())
    assert sum(held.values()) <= base_bytes + adapters


def test_a_replaced_base_tensor_stays_private(resident, folders):
    name = "blocks.2.norm1.weight"
    own = resident["lora_replacing"].encoder.state_dict()[name]
    stored = geoadapters.hub.folder.read_tensors(folders["lora_replacing"])["base_model.model." + name]
    assert torch.equal(own, stored)
    assert not torch.equal(resident.base.state_dict()[name], stored)
    assert torch.equal(resident["vpt"].encoder.state_dict()[name], resident.base.state_dict()[name])


def test_linear_probes_share_one_encoder_pass(resident, chip):
    x = _input(resident, chip[0])
    calls = []
    hook = resident.base.patch_embed.register_forward_hook(lambda *args: calls.append(1))
    try:
        with torch.no_grad():
            many = resident.forward_many(x, ["probe", "probe_fcn", "vpt"])
    finally:
        hook.remove()
    assert resident["probe"].encoder is resident["probe_fcn"].encoder is resident.base
    assert len(calls) == 1  # the VPT adapter runs its own encoder, not the base module
    with torch.no_grad():
        for name in ("probe", "probe_fcn", "vpt"):
            torch.testing.assert_close(many[name], resident(x, adapter=name), rtol=0, atol=1e-6)


def test_lora_and_vpt_adapters_batch_into_one_pass_per_prompt_count(resident, chip):
    x = _input(resident, chip[0])
    passes = resident.passes(list(resident))
    joined = sorted(sorted(n for segment in p.segments for n in segment) for p in passes.plan)
    assert joined == sorted([
        ["lora", "lora_rank4", "probe", "probe_fcn"],  # no prompts: one pass, the probes one segment
        ["vpt", "vpt_again"],  # 5 prompts
        ["vpt_upernet"],  # 3 prompts: alone
        ["lora_replacing"],  # replaces base tensors: its own encoder
        ["vit_adapter"],
    ])  # fmt: skip
    with torch.no_grad():
        many = passes(x)
        for name in resident:  # the reference: each adapter on its own adapted encoder
            torch.testing.assert_close(many[name], resident(x, adapter=name), rtol=0, atol=1e-5, msg=name)
            assert torch.equal(many[name].argmax(1), resident(x, adapter=name).argmax(1)), name


def test_a_batched_pass_computes_what_separate_passes_compute_in_float64(folders, checkpoint, chip):
    names = ["lora", "lora_rank4", "vpt", "vpt_again", "probe"]
    models = AdapterSet(TEST_BASE, checkpoint=checkpoint)
    for name in names:
        models.add(name, folders[name])
    models.double()
    x = models["lora"].normalize(chip[0]).double()
    with torch.no_grad():
        batched = models.passes(names)(x)
        apart = models.passes(names, batched=False)(x)
    assert len(models.passes(names).plan) == 2 and len(models.passes(names, batched=False).plan) == 5
    for name in names:
        torch.testing.assert_close(batched[name], apart[name], rtol=0, atol=1e-12, msg=name)


def test_full_fine_tunes_and_other_architectures_are_refused(tmp_path, resident, checkpoint):
    full = perturbed_model("full", "linear", checkpoint).save_pretrained(tmp_path / "full")
    with pytest.raises(AdapterError, match="full fine-tune"):
        resident.add("full", full)
    other = geoadapters.create(
        TEST_BASE, "vpt", "linear", num_classes=2, checkpoint=checkpoint, bands=["BLUE", "GREEN", "RED"]
    ).save_pretrained(tmp_path / "three_bands")
    with pytest.raises(AdapterError, match="bands"):
        resident.add("three", other)
    with pytest.raises(AdapterError, match="already"):
        resident.add("vpt", other)
