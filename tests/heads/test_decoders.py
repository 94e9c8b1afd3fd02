import pytest
import torch
import torch.nn.functional as F

from geoadapters.backbone import create_backbone
from geoadapters.errors import InputShapeError
from geoadapters.heads import build_head
from geoadapters.heads.classification import ClassificationDecoder
from geoadapters.heads.fcn import ChannelLayerNorm, FCNDecoder
from geoadapters.heads.linear import LinearDecoder
from geoadapters.heads.unet import UNetDecoder
from geoadapters.heads.upernet import UPerNetDecoder


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize(
    ("base", "classes", "expected"),
    [
        # the paper's LinearDecoder parameter count: D * C * u^2 + C, u = the encoder's stride
        ("prithvi-300", 2, 524_290),
        ("prithvi-300", 19, 4_980_755),
        ("prithvi-100", 2, 393_218),
        ("clay-v1", 2, 98_306),
        ("decur-s2", 2, 4_194_306),
    ],
)
def test_linear_head_of_full_size_bases_has_the_reference_parameter_count(base, classes, expected):
    with torch.device("meta"):
        encoder = create_backbone(base, pretrained=False)
        head = build_head("linear", encoder, classes)
    assert count(head) == expected


def test_linear_decoder_is_one_transposed_convolution():
    decoder = LinearDecoder(1024, 2, 16)
    assert count(decoder) == 524_290
    assert [type(m).__name__ for m in decoder.children()] == ["ConvTranspose2d"]
    x = torch.randn(1, 1024, 2, 3)
    out = decoder([x])
    assert out.shape == (1, 2, 32, 48)
    # each cell is mapped linearly onto its own 16 x 16 block of pixels
    expected = torch.einsum("d,dkl->kl", x[0, :, 1, 2], decoder.conv.weight[:, 0])
    torch.testing.assert_close(out[0, 0, 16:32, 32:48], expected + decoder.conv.bias[0])


def test_channel_layer_norm_normalises_each_pixel_over_channels():
    norm = ChannelLayerNorm(8)
    x = torch.randn(2, 8, 3, 5)
    expected = F.layer_norm(x.movedim(1, -1), (8,), eps=1e-6).movedim(-1, 1)
    torch.testing.assert_close(norm(x), expected)


def test_fcn_doubles_resolution_per_step():
    decoder = FCNDecoder(64, 3, channels=16, num_convs=3)
    assert decoder([torch.randn(2, 64, 2, 3)]).shape == (2, 3, 16, 24)


def test_pyramid_decoders_output_at_the_finest_map_or_twice_it():
    channels = [16, 32, 64, 64]
    maps = [torch.randn(2, c, 16 // 2**i, 24 // 2**i) for i, c in enumerate(channels)]
    assert UPerNetDecoder(channels, 3, channels=32)(maps).shape == (2, 3, 16, 24)
    assert UNetDecoder(channels, 3, channels=(64, 32, 16, 8))(maps).shape == (2, 3, 32, 48)


def test_unet_skips_of_odd_size_still_line_up():
    channels = [8, 8, 8, 8]
    maps = [torch.randn(2, 8, s, s) for s in (28, 14, 7, 3)]  # 7 -> 3: a max-pooled odd grid
    assert UNetDecoder(channels, 2, channels=(8, 8, 8, 8))(maps).shape == (2, 2, 56, 56)


def test_upernet_has_the_reference_structure():
    decoder = UPerNetDecoder([256, 512, 1024, 2048], 5)
    assert len(decoder.pooling.branches) == 4
    assert [b[0].output_size for b in decoder.pooling.branches] == [1, 2, 3, 6]
    assert decoder.bottleneck[0].in_channels == 2048 + 4 * 256
    assert [c[0].in_channels for c in decoder.lateral_convs] == [256, 512, 1024]
    assert decoder.fpn_bottleneck[0].in_channels == 4 * 256
    assert decoder.classifier.out_channels == 5


def test_classification_decoder_is_a_linear_map_of_the_mean():
    decoder = ClassificationDecoder(8, 19)
    x = torch.randn(2, 8, 3, 5)
    expected = x.flatten(2).mean(-1) @ decoder.classifier.weight.T + decoder.classifier.bias
    torch.testing.assert_close(decoder([x]), expected)


def test_upernet_training_on_one_image_is_a_clear_error():
    decoder = UPerNetDecoder([8, 8, 8, 8], 2, channels=8)
    maps = [torch.randn(1, 8, 16 // 2**i, 16 // 2**i) for i in range(4)]
    with pytest.raises(InputShapeError, match="needs 2 or more images per training batch"):
        decoder(maps)
    assert decoder.eval()(maps).shape == (1, 2, 16, 16)
    assert UPerNetDecoder([8, 8, 8, 8], 2, channels=8, pool_scales=(2, 3))(maps).shape == (1, 2, 16, 16)
