import huggingface_hub.constants
import pytest
import torch

from geoadapters.backbone import create_backbone
from geoadapters.errors import WeightsNotFoundError
from tests.conftest import SMALL, TEST_BASE
from tests.models.official import prithvi_checkpoint

REPO = "ibm-nasa-geospatial/Prithvi-EO-2.0-300M"


@pytest.fixture
def published(fake_hub, tmp_path):
    """The official 300M repository with a small checkpoint at two commits."""
    first = prithvi_checkpoint(tmp_path / "a.pt", dim=64, depth=4, seed=1)
    sha1 = fake_hub.add_files(REPO, {"Prithvi_EO_V2_300M.pt": (tmp_path / "a.pt").read_bytes()})
    second = prithvi_checkpoint(tmp_path / "b.pt", dim=64, depth=4, seed=2)
    fake_hub.add_files(REPO, {"Prithvi_EO_V2_300M.pt": (tmp_path / "b.pt").read_bytes()})
    return {"first": (sha1, first), "latest": second}


def test_weights_download_from_the_hub_and_pin_revisions(published):
    latest = create_backbone(TEST_BASE)
    assert torch.equal(latest.cls_token, published["latest"]["cls_token"])
    sha, first = published["first"]
    pinned = create_backbone(TEST_BASE, revision=sha)
    assert torch.equal(pinned.cls_token, first["cls_token"])


def test_cached_weights_work_offline(published, monkeypatch):
    create_backbone(TEST_BASE)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    model = create_backbone(TEST_BASE)
    assert torch.equal(model.cls_token, published["latest"]["cls_token"])


def test_offline_without_cache_says_what_to_do(monkeypatch):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(WeightsNotFoundError, match="with checkpoint="):
        create_backbone(TEST_BASE)


def test_unknown_revision_and_repository_are_clear_errors(published):
    with pytest.raises(WeightsNotFoundError, match="does not exist on the Hub"):
        create_backbone(TEST_BASE, revision="no-such-branch")
    with pytest.raises(WeightsNotFoundError, match=r"Prithvi-EO-2\.0-300M-TL@main does not exist"):
        create_backbone("prithvi-300-tl", **SMALL)
