import pytest
import torch

from geoadapters.backbone import create_backbone
from geoadapters.errors import InputShapeError
from tests.models.official import resnet_checkpoint

# torchvision's documented ResNet-50 size (25,557,032) without its 1000-class classifier (2,049,000),
# with 13 instead of 3 input bands in the first 7x7 convolution (+10 x 64 x 49).
DECUR_PARAMS = 25_557_032 - 2_049_000 + 10 * 64 * 49


def test_full_size_parameter_count():
    with torch.device("meta"):
        model = create_backbone("decur-s2", pretrained=False)
    assert sum(p.numel() for p in model.parameters()) == DECUR_PARAMS
    assert model.features.channels == (256, 512, 1024, 2048)


def test_checkpoint_with_classifier_loads_and_maps_bands(tmp_path):
    template = create_backbone("decur-s2", pretrained=False)
    path = tmp_path / "rn50_decur.pth"
    expected = resnet_checkpoint(path, template.state_dict())
    model = create_backbone("decur-s2", checkpoint=path, bands=["B02", "B03", "B04", "B8A", "B11", "B12"])
    state = model.state_dict()
    assert torch.equal(state["layer4.2.conv3.weight"], expected["layer4.2.conv3.weight"])
    for i, j in enumerate([1, 2, 3, 8, 11, 12]):
        assert torch.equal(state["conv1.weight"][:, i], expected["conv1.weight"][:, j])
    features = model.eval()(torch.randn(1, 6, 64, 96))
    assert [f.shape[1:] for f in features] == [(256, 16, 24), (512, 8, 12), (1024, 4, 6), (2048, 2, 3)]


def test_wrong_band_count_is_a_clear_error():
    model = create_backbone("decur-s2", pretrained=False)
    with pytest.raises(InputShapeError, match="expected"):
        model(torch.zeros(1, 6, 64, 64))
