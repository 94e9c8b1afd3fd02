"""Shared fixtures: repository test data, an isolated Hugging Face cache, a fake Hub on 127.0.0.1."""

from collections.abc import Iterator
from pathlib import Path

import huggingface_hub.constants
import pytest
import torch

import geoadapters
from geoadapters.config import Inference
from geoadapters.specs import InputSpec
from tests.hub_server import FakeHub
from tests.models.official import prithvi_checkpoint

DATA = Path(__file__).parent / "data"
S2_CHIP = DATA / "sen1floods11" / "Spain_7370579_S2Hand.tif"

# A prithvi-300 architecture small enough for tests, and the input contract of the paper's
# Sen1Floods11 datamodule (seed-facts.md, section 2): digital numbers x 0.0001, dataset mean/std.
SMALL = {"depth": 4, "embed_dim": 64, "num_heads": 4}
S1F11 = InputSpec(
    bands=("BLUE", "GREEN", "RED", "NIR_NARROW", "SWIR_1", "SWIR_2"),
    mean=(0.14130, 0.13796, 0.12354, 0.30903, 0.20450, 0.11912),
    std=(0.07406, 0.07370, 0.08692, 0.11799, 0.09772, 0.07660),
    units="reflectance",
    scale=0.0001,
    nodata=0,
    gsd=10,
)

# The HLS L30 chip's bands in file order (tests/data/ATTRIBUTION.md); it has no band descriptions.
HLS_CHIP = DATA / "hls" / "regression_test_0_input.tif"
HLS_CHIP_BANDS = (
    "COASTAL_AEROSOL",
    "BLUE",
    "GREEN",
    "RED",
    "NIR_NARROW",
    "SWIR_1",
    "SWIR_2",
    "CIRRUS",
    "THERMAL_INFRARED_1",
    "THERMAL_INFRARED_2",
)


@pytest.fixture(autouse=True)
def _isolated_hf_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never touch the user's cache or the real Hub: a fresh cache and an unroutable endpoint."""
    cache = tmp_path_factory.mktemp("hf-cache")
    # huggingface_hub reads these at import: patch the constants for this process, the environment
    # for subprocesses.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HOME", str(cache.parent / "hf-home"))
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An official-layout prithvi-300 checkpoint of the `SMALL` architecture."""
    path = tmp_path_factory.mktemp("base") / "Prithvi_EO_V2_300M.pt"
    prithvi_checkpoint(path, dim=SMALL["embed_dim"], depth=SMALL["depth"])
    return path


def perturbed_model(method: str, head: str, checkpoint: Path, **settings: object) -> geoadapters.GeoModel:
    """A small Sen1Floods11 model in eval mode, its adapter moved away from its initialisation."""
    torch.manual_seed(0)
    inference = Inference(tile_size=64, overlap=16, batch_size=4)
    model = geoadapters.create(
        "prithvi-300", method, head, classes=["not water", "water"], checkpoint=checkpoint, input=S1F11,
        inference=inference, name=f"sen1floods11-{method}", **(SMALL | settings),
    )  # fmt: skip
    with torch.no_grad():  # LoRA's B starts at zero: without this the adapter would change nothing
        for p in model.parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p) * 0.05)
    return model.eval()


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    """An in-memory Hub API server on 127.0.0.1 that this process's downloads and uploads use."""
    with FakeHub() as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        yield hub
