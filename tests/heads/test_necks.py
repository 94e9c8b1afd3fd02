import pytest
import torch

from geoadapters.backbone import create_backbone
from geoadapters.errors import InputShapeError
from geoadapters.heads.necks import LearnedPyramid, SelectIndices, TokensToImage
from tests.conftest import TEST_BASE


def tokens_from_grid(grid: torch.Tensor, cls: torch.Tensor) -> torch.Tensor:
    """(B, T, D, h, w) grid -> (B, 1 + T*h*w, D) tokens, frame-major then row-major, one by one."""
    batch, frames, dim, rows, cols = grid.shape
    tokens = torch.empty(batch, 1 + frames * rows * cols, dim)
    tokens[:, 0] = cls
    for t in range(frames):
        for i in range(rows):
            for j in range(cols):
                tokens[:, 1 + (t * rows + i) * cols + j] = grid[:, t, :, i, j]
    return tokens


@pytest.mark.parametrize(("frames", "rows", "cols"), [(1, 3, 5), (2, 4, 2), (3, 1, 1)])
def test_tokens_to_image_inverts_explicit_flattening(frames, rows, cols):
    torch.manual_seed(0)
    grid = torch.randn(2, frames, 7, rows, cols)
    tokens = tokens_from_grid(grid, cls=torch.randn(2, 7))
    (image,) = TokensToImage(reduction=16, frames=frames)([tokens], (rows * 16, cols * 16))
    assert image.shape == (2, frames * 7, rows, cols)
    for t in range(frames):
        for d in range(7):
            assert torch.equal(image[:, t * 7 + d], grid[:, t, d])


def test_tokens_to_image_matches_the_patch_embedding_grid():
    """Folding the encoder's patch tokens gives back its 3D convolution's output, frames into channels."""
    torch.manual_seed(0)
    encoder = create_backbone(TEST_BASE, pretrained=False, num_frames=2)
    x = torch.randn(2, 6, 2, 32, 80)
    with torch.no_grad():
        conv = encoder.patch_embed.proj(x)  # (B, D, T, h, w)
        tokens = torch.cat([torch.zeros(2, 1, 64), encoder.patch_embed(x)], dim=1)
    (image,) = TokensToImage(16, frames=2)([tokens], (32, 80))
    expected = conv.permute(0, 2, 1, 3, 4).reshape(2, 2 * 64, 2, 5)
    assert torch.equal(image, expected)


def test_tokens_to_image_rejects_a_wrong_image_size():
    tokens = torch.zeros(1, 1 + 4 * 6, 8)
    with pytest.raises(InputShapeError, match=r"25 tokens do not fit a 96 x 80 px input"):
        TokensToImage(16)([tokens], (96, 80))


def test_select_indices_picks_in_order_with_negative_indices():
    features = [torch.full((1,), float(i)) for i in range(5)]
    picked = SelectIndices([-1, 0, 2])(features)
    assert [int(f) for f in picked] == [4, 0, 2]
    with pytest.raises(InputShapeError, match=r"reads encoder outputs \[-1, 0, 2\] but the encoder gave 2"):
        SelectIndices([-1, 0, 2])(features[:2])


def test_learned_pyramid_gives_strides_4_to_32_from_one_stride_16():
    pyramid = LearnedPyramid([64, 64, 64, 64])
    maps = [torch.randn(2, 64, 4, 6) for _ in range(4)]
    out = pyramid(maps)
    assert [tuple(m.shape[1:]) for m in out] == [(16, 16, 24), (32, 8, 12), (64, 4, 6), (64, 2, 3)]
    assert pyramid.out_channels == [16, 32, 64, 64]
    assert out[2] is maps[2]
    assert torch.equal(out[3], torch.nn.functional.max_pool2d(maps[3], 2))
    layers = [type(m).__name__ for m in pyramid.fpn1]
    assert layers == ["ConvTranspose2d", "BatchNorm2d", "GELU", "ConvTranspose2d"]


def test_learned_pyramid_needs_four_maps():
    with pytest.raises(ValueError, match="exactly 4 maps"):
        LearnedPyramid([64, 64, 64])
