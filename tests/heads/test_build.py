import pytest
import torch
import torch.nn.functional as F

from geoadapters.backbone import create_backbone
from geoadapters.errors import InputShapeError
from geoadapters.heads import Head, build_head, list_heads
from geoadapters.heads.necks import LearnedPyramid, TokensToImage
from tests.conftest import TEST_BASE
from tests.heads.conftest import SMALL_SETTINGS

SIZES = [(64, 64), (64, 96)]


def logits(head: Head, encoder: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return head(encoder.forward_features(x), tuple(x.shape[-2:]))


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("name", list_heads())
def test_every_head_on_prithvi_gives_logits_at_input_size(prithvi, name, size):
    head = build_head(name, prithvi, 3, **SMALL_SETTINGS[name]).eval()
    out = logits(head, prithvi, torch.randn(2, 6, *size))
    assert out.shape == ((2, 3) if name == "classification" else (2, 3, *size))
    assert head.task == ("multilabel" if name == "classification" else "segmentation")
    assert head.name == name
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("name", list_heads())
def test_every_head_on_clay_gives_logits_at_input_size(clay, name, size):
    head = build_head(name, clay, 4, **SMALL_SETTINGS[name]).eval()
    out = logits(head, clay, torch.randn(2, 10, *size))
    assert out.shape == ((2, 4) if name == "classification" else (2, 4, *size))


@pytest.fixture(scope="module")
def resnet_features(resnet):
    """The ResNet's maps for each test size, computed once: its forward is the slow part here."""
    with torch.no_grad():
        return {size: resnet.forward_features(torch.randn(2, 13, *size)) for size in SIZES}


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("name", list_heads())
def test_every_head_on_resnet_maps_gives_logits_at_input_size(resnet, resnet_features, name, size):
    head = build_head(name, resnet, 2, **SMALL_SETTINGS[name]).eval()
    with torch.no_grad():
        out = head(resnet_features[size], size)
    assert out.shape == ((2, 2) if name == "classification" else (2, 2, *size))
    assert head.neck.to_image is None
    assert head.neck.pyramid is None


def test_resnet_heads_read_the_paper_stages(resnet):
    assert build_head("linear", resnet, 2).decoder.conv.stride == (32, 32)
    assert build_head("upernet", resnet, 2).neck.select.indices == [0, 1, 2, 3]
    unet = build_head("unet", resnet, 2)
    assert [block.conv1[0].in_channels for block in unet.decoder.blocks] == [
        2048 + 1024,
        512 + 512,
        256 + 256,
        128,
    ]


@pytest.mark.parametrize("name", ["linear", "upernet", "classification"])
def test_multi_frame_prithvi_folds_frames_into_channels(name):
    torch.manual_seed(0)
    encoder = create_backbone(TEST_BASE, pretrained=False, num_frames=2).eval()
    head = build_head(name, encoder, 3, **SMALL_SETTINGS[name]).eval()
    out = logits(head, encoder, torch.randn(2, 6, 2, 64, 96))
    assert out.shape == ((2, 3) if name == "classification" else (2, 3, 64, 96))
    assert head.neck.to_image.frames == 2
    if name == "linear":
        assert head.decoder.conv.in_channels == 2 * 64


def test_token_pyramid_heads_use_evenly_spaced_blocks_and_a_learned_pyramid(prithvi):
    head = build_head("unet", prithvi, 2, **SMALL_SETTINGS["unet"])
    assert head.neck.select.indices == [0, 1, 2, 3]
    assert isinstance(head.neck.to_image, TokensToImage)
    assert isinstance(head.neck.pyramid, LearnedPyramid)
    assert head.neck.pyramid.out_channels == [16, 32, 64, 64]
    with torch.device("meta"):
        large = create_backbone("prithvi-300", pretrained=False)
        base = create_backbone("prithvi-100", pretrained=False)
        assert build_head("upernet", large, 2).neck.select.indices == [5, 11, 17, 23]
        assert build_head("unet", base, 2).neck.select.indices == [2, 5, 8, 11]


def test_decoder_output_of_another_size_is_resized_bilinearly():
    """14 px patches: the FCN's x16 gives 64 x 96 for a 56 x 84 input; the head resizes to 56 x 84."""
    torch.manual_seed(0)
    encoder = create_backbone(TEST_BASE, pretrained=False, patch_size=14).eval()
    head = build_head("fcn", encoder, 3, channels=16).eval()
    features = encoder.forward_features(torch.randn(2, 6, 56, 84))
    with torch.no_grad():
        out = head(features, (56, 84))
        raw = head.decoder(head.neck(features, (56, 84)))
    assert raw.shape == (2, 3, 64, 96)
    torch.testing.assert_close(out, F.interpolate(raw, size=(56, 84), mode="bilinear"))
    assert build_head("linear", encoder, 3).decoder.conv.stride == (14, 14)


@pytest.mark.parametrize("name", list_heads())
def test_a_few_steps_lower_the_loss_and_reach_every_head_parameter(prithvi, name):
    torch.manual_seed(0)
    x = torch.randn(2, 6, 32, 48)
    with torch.no_grad():
        features = prithvi.forward_features(x)
    head = build_head(name, prithvi, 3, **SMALL_SETTINGS[name])
    if name == "classification":
        target = torch.randint(0, 2, (2, 3)).float()
        loss_fn = F.binary_cross_entropy_with_logits
    else:
        target = torch.randint(0, 3, (2, 32, 48))
        loss_fn = F.cross_entropy
    optimizer = torch.optim.Adam(head.parameters(), lr=1e-3)
    losses = []
    for step in range(5):
        optimizer.zero_grad()
        loss = loss_fn(head(features, (32, 48)), target)
        loss.backward()
        if step == 0:
            assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in head.parameters())
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_gradients_reach_the_encoder_through_the_head(prithvi):
    head = build_head("upernet", prithvi, 2, **SMALL_SETTINGS["upernet"])
    prithvi.zero_grad()
    x = torch.randn(2, 6, 32, 32)
    head(prithvi.forward_features(x), (32, 32)).sum().backward()
    assert prithvi.blocks[0].attn.qkv.weight.grad.abs().sum() > 0
    prithvi.zero_grad()


def test_num_classes_must_be_positive(prithvi):
    with pytest.raises(ValueError, match="num_classes must be a positive integer, got 0"):
        build_head("linear", prithvi, 0)


def test_layer_outside_the_encoder_is_a_clear_error(prithvi):
    with pytest.raises(ValueError, match=r"encoder output 4 does not exist: the encoder has 4 outputs"):
        build_head("linear", prithvi, 2, layer=4)
    with pytest.raises(ValueError, match=r"encoder output -5 does not exist"):
        build_head("unet", prithvi, 2, layers=[-5, 1, 2, 3])


def test_pyramid_heads_on_a_shallow_token_encoder_ask_for_layers():
    encoder = create_backbone("prithvi-300", pretrained=False, depth=2, embed_dim=32, num_heads=2)
    with pytest.raises(ValueError, match=r"needs 4 encoder outputs and the encoder has 2.*layers="):
        build_head("upernet", encoder, 2)
    head = build_head("upernet", encoder, 2, channels=16, layers=[0, 0, 1, 1]).eval()
    assert logits(head, encoder, torch.randn(2, 6, 32, 32)).shape == (2, 2, 32, 32)


def test_pyramid_heads_on_maps_need_strides_4_to_32():
    encoder = create_backbone("decur-s2", pretrained=False, out_indices=(2, 3, 4))
    with pytest.raises(ValueError, match=r"needs 4 feature maps at strides \[4, 8, 16, 32\].*\[8, 16, 32\]"):
        build_head("unet", encoder, 2)
    assert build_head("linear", encoder, 2).decoder.conv.stride == (32, 32)


def test_features_of_another_input_size_are_a_clear_error(prithvi):
    head = build_head("linear", prithvi, 2)
    features = prithvi.forward_features(torch.randn(1, 6, 64, 64))
    with pytest.raises(InputShapeError, match="pass the size of the image the encoder saw"):
        head(features, (64, 96))


def test_features_of_another_encoder_are_a_clear_error(prithvi):
    head = build_head("unet", prithvi, 2, **SMALL_SETTINGS["unet"])
    features = prithvi.forward_features(torch.randn(1, 6, 32, 32))
    with pytest.raises(InputShapeError, match="build the head for this encoder"):
        head(features[:2], (32, 32))
