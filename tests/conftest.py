"""Shared fixtures: the test base, repository test data, an isolated Hugging Face cache, a fake Hub."""

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path

import huggingface_hub.constants
import numpy as np
import pytest
import rasterio
import torch
from rasterio.windows import Window

import geoadapters
from geoadapters.bands import band_indices
from geoadapters.config import Inference
from geoadapters.specs import InputSpec
from tests.hub_server import FakeHub
from tests.models.official import prithvi_checkpoint

# Fixtures of multi-date scenes, shared by the library's and the command's tests.
pytest_plugins = ["tests.frames"]

DATA = Path(__file__).parent / "data"
S2_CHIP = DATA / "sen1floods11" / "Spain_7370579_S2Hand.tif"
LABEL_CHIP = DATA / "sen1floods11" / "Spain_7370579_LabelHand.tif"

# The one small architecture of the tests, registered as the base "prithvi-test" (as timm registers
# `test_vit`): the prithvi-300 family and weights repository, shrunk. Tests of a real catalog entry
# shrink it with the same overrides.
SMALL = {"depth": 4, "embed_dim": 64, "num_heads": 4}
_PRITHVI_300 = geoadapters.get_base("prithvi-300")
TEST_BASE = geoadapters.register_base(
    dataclasses.replace(
        _PRITHVI_300,
        name="prithvi-test",
        arch=dataclasses.replace(_PRITHVI_300.arch, **SMALL),
        description="prithvi-300 at depth 4 and width 64, for tests",
    )
).name

# The input contract of the paper's Sen1Floods11 datamodule (Marti-Escofet et al. 2025, section 4):
# digital numbers x 0.0001, dataset mean/std.
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


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Tests marked ``gpu`` skip where there is no CUDA device."""
    if item.get_closest_marker("gpu") is not None and not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")


@pytest.fixture(autouse=True)
def _isolated_hf_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never touch the user's caches or the real Hub: fresh caches and an unroutable endpoint."""
    cache = tmp_path_factory.mktemp("hf-cache")
    # huggingface_hub reads these at import: patch the constants for this process, the environment
    # for subprocesses.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HOME", str(tmp_path_factory.mktemp("hf-home")))
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("GEOADAPTERS_CACHE", str(tmp_path_factory.mktemp("geoadapters-cache")))


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An official-layout prithvi-300 checkpoint of the `SMALL` architecture (loads into the test base)."""
    path = tmp_path_factory.mktemp("base") / "Prithvi_EO_V2_300M.pt"
    prithvi_checkpoint(path, dim=SMALL["embed_dim"], depth=SMALL["depth"])
    return path


def perturbed_model(method: str, head: str, checkpoint: Path, **settings: object) -> geoadapters.GeoModel:
    """A small Sen1Floods11 model in eval mode, its adapter moved away from its initialisation."""
    torch.manual_seed(0)
    inference = Inference(tile_size=64, overlap=16, batch_size=4)
    model = geoadapters.create(
        TEST_BASE, method, head, classes=["not water", "water"], checkpoint=checkpoint, input=S1F11,
        inference=inference, name=f"sen1floods11-{method}", **settings,
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


@pytest.fixture(scope="session")
def chip() -> tuple[torch.Tensor, torch.Tensor]:
    """Two 64 x 64 windows of the real Sentinel-2 flood chip (54 % and 41 % water).

    Returns:
        Raw values of the `S1F11` bands, found by band description (float32, file units), and the
        labels (int64; -1 no data, 0 not water, 1 water).
    """
    windows = [Window(160, 0, 64, 64), Window(320, 32, 64, 64)]
    with rasterio.open(S2_CHIP) as src:
        index = [i + 1 for i in band_indices(src.descriptions, S1F11.bands)]
        raw = np.stack([src.read(index, window=w) for w in windows]).astype("float32")
    with rasterio.open(LABEL_CHIP) as src:
        label = np.stack([src.read(1, window=w) for w in windows]).astype("int64")
    return torch.from_numpy(raw), torch.from_numpy(label)


def cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Segmentation loss with the Sen1Floods11 no-data label ignored."""
    return torch.nn.functional.cross_entropy(logits, target, ignore_index=-1)


def train_steps(
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    steps: int = 6,
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = cross_entropy,
    lr: float = 1e-3,
) -> list[float]:
    """Train the parameters that require grad with AdamW on one batch; return the loss of every step."""
    model.train()
    optimiser = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    losses = []
    for _ in range(steps):
        value = loss(model(x), y)
        optimiser.zero_grad()
        value.backward()
        optimiser.step()
        losses.append(value.item())
    return losses


def files_under(root: Path) -> dict[str, bytes]:
    """Every file under `root` and its bytes: what a test compares to show nothing was written or lost."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
