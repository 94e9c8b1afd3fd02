import math

import pytest
import torch

from geoadapters.backbone import create_backbone
from geoadapters.methods import add_adapter
from tests.conftest import TEST_BASE


def test_full_size_trainable_count_is_the_reference():
    with torch.device("meta"):
        encoder = add_adapter(create_backbone("prithvi-300", pretrained=False), "vpt")
    assert sum(p.numel() for p in encoder.parameters() if p.requires_grad) == 24 * 100 * 1024


def test_prompts_match_an_explicit_deep_vpt():
    torch.manual_seed(0)
    encoder = add_adapter(create_backbone(TEST_BASE, pretrained=False), "vpt", prompt_tokens=7).eval()
    assert [n for n, p in encoder.named_parameters() if p.requires_grad] == [
        f"vpt.prompts.{i}" for i in range(len(encoder.transformer_blocks()))
    ]
    bound = math.sqrt(6 / (3 * 16 * 16 + 64))
    assert all(p.abs().max() <= bound for p in encoder.vpt.prompts)
    x = torch.randn(2, 6, 32, 32)
    with torch.no_grad():
        ours = encoder(x)
        # the same computation by hand, without hooks: insert after the class token, run, drop
        tokens = encoder.embed(x)
        expected = []
        for block, prompt in zip(encoder.blocks, encoder.vpt.prompts, strict=True):
            with_prompts = torch.cat([tokens[:, :1], prompt.expand(2, -1, -1), tokens[:, 1:]], dim=1)
            out = block.forward(with_prompts)  # forward() itself runs no hooks
            tokens = torch.cat([out[:, :1], out[:, 8:]], dim=1)
            expected.append(tokens)
        expected[-1] = encoder.norm(tokens)
    assert [o.shape for o in ours] == [(2, 5, 64)] * len(encoder.blocks)
    for a, b in zip(ours, expected, strict=True):
        torch.testing.assert_close(a, b)


def test_prompts_change_the_output_and_dropout_only_trains():
    encoder = add_adapter(create_backbone(TEST_BASE, pretrained=False), "vpt", prompt_tokens=4)
    x = torch.randn(1, 6, 32, 32)
    encoder.eval()
    with torch.no_grad():
        before = encoder(x)[-1]
        assert torch.equal(encoder(x)[-1], before)
        encoder.vpt.prompts[0].add_(1.0)
        assert not torch.allclose(encoder(x)[-1], before)
    encoder.train()
    with torch.no_grad():
        assert not torch.equal(encoder(x)[-1], encoder(x)[-1])


def test_clay_vpt_keeps_the_output_shape():
    encoder = add_adapter(
        create_backbone("clay-v1", pretrained=False, depth=2, dim=64, heads=4, dim_head=16), "vpt"
    )
    assert encoder.eval()(torch.randn(1, 10, 16, 16))[-1].shape == (1, 5, 64)


@pytest.mark.parametrize("setting", [{"prompt_tokens": 0}, {"prompt_dropout": 1.0}])
def test_bad_settings_are_refused(setting):
    with pytest.raises(ValueError, match="prompt"):
        add_adapter(create_backbone(TEST_BASE, pretrained=False), "vpt", **setting)
