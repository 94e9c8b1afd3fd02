import pytest
import torch

from geoadapters.backbone import create_backbone
from geoadapters.errors import AdapterError, UnknownNameError
from geoadapters.methods import add_adapter, get_method, list_methods
from tests.conftest import TEST_BASE


def test_the_paper_methods_are_registered():
    # first, in the paper's order; tests may register more (tests/test_extensions.py)
    assert list_methods()[:5] == ["lora", "vpt", "vit_adapter", "linear_probe", "full"]


@pytest.mark.parametrize("method", ["lora", "vpt", "vit_adapter", "linear_probe", "full"])
def test_exactly_the_methods_parameters_train(method):
    encoder = add_adapter(create_backbone(TEST_BASE, pretrained=False), method)
    # adapter files name LoRA tensors as PEFT does, without the adapter name "default"
    trainable = {n.replace(".default.", ".") for n, p in encoder.named_parameters() if p.requires_grad}
    frozen = {n.replace(".default.", ".") for n, p in encoder.named_parameters() if not p.requires_grad}
    adapter = set(get_method(method).state_dict(encoder))
    assert trainable <= adapter  # the saved tensors hold every trained one (plus BatchNorm statistics)
    assert not frozen & adapter if method != "full" else not frozen
    assert encoder.adapter_method == method
    if method == "linear_probe":
        assert not trainable


@pytest.mark.parametrize(
    ("method", "base"), [("lora", "decur-s2"), ("vpt", "decur-s2"), ("vit_adapter", "clay-v1")]
)
def test_methods_refuse_encoders_they_do_not_fit(method, base):
    with torch.device("meta"):
        encoder = create_backbone(base, pretrained=False)
    with pytest.raises(AdapterError, match="does not apply"):
        add_adapter(encoder, method)


def test_unknown_method_setting_and_double_adapter_are_clear_errors():
    encoder = create_backbone(TEST_BASE, pretrained=False)
    with pytest.raises(UnknownNameError, match="Did you mean 'lora'"):
        add_adapter(encoder, "lorra")
    with pytest.raises(TypeError, match="no setting rank"):
        add_adapter(encoder, "lora", rank=4)
    add_adapter(encoder, "vpt")
    with pytest.raises(AdapterError, match="has a vpt adapter already"):
        add_adapter(encoder, "lora")
