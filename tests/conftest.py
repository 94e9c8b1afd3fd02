"""Shared fixtures: repository test data, an isolated Hugging Face cache, a fake Hub on 127.0.0.1."""

from collections.abc import Iterator
from pathlib import Path

import huggingface_hub.constants
import pytest

from tests.hub_server import FakeHub

DATA = Path(__file__).parent / "data"

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


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    """An in-memory Hub API server on 127.0.0.1 that this process's downloads and uploads use."""
    with FakeHub() as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        yield hub
