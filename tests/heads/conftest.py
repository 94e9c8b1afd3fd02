"""Small real encoders, one of each feature kind, shared by the head tests."""

import pytest
import torch

from geoadapters.backbone import create_backbone
from tests.conftest import TEST_BASE

SMALL_CLAY = {"depth": 4, "dim": 64, "heads": 4, "dim_head": 16}
# Narrow decoders: the paper's widths (512 / 256 channels) only cost time here.
SMALL_SETTINGS = {
    "linear": {},
    "fcn": {"channels": 32},
    "upernet": {"channels": 32},
    "unet": {"channels": [64, 32, 16, 8]},
    "classification": {},
}


@pytest.fixture(scope="module")
def prithvi() -> torch.nn.Module:
    torch.manual_seed(0)
    return create_backbone(TEST_BASE, pretrained=False).eval()


@pytest.fixture(scope="module")
def clay() -> torch.nn.Module:
    torch.manual_seed(0)
    return create_backbone("clay-v1", pretrained=False, **SMALL_CLAY).eval()


@pytest.fixture(scope="module")
def resnet() -> torch.nn.Module:
    torch.manual_seed(0)
    return create_backbone("decur-s2", pretrained=False).eval()
