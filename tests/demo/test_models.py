"""The adapters the demo offers: bundled, listed by the Hub, cached; a silent Hub does not hold it up."""

import logging
import socket
import time
from pathlib import Path

import pytest

from demo import models
from geoadapters import DEFAULT_ADAPTER

BUNDLED = models.BUNDLED
REPO = "geoadapters/prithvi-v2-tiny-tl-sen1floods11-tiny"
# as `python -m demo` (and the CLI) do: the retries of a listing left running are not logged
logging.getLogger("huggingface_hub").setLevel(logging.ERROR)


def _publish(fake_hub):
    folder = Path(DEFAULT_ADAPTER)
    fake_hub.add_files(REPO, {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()})


def _tiles(label, output):
    return models.predict(label, models.EXAMPLES / "Spain_7370579_S2Hand.tif", output).computed


def test_hub_adapters_are_offered_then_found_in_the_cache(fake_hub, monkeypatch, tmp_path):
    _publish(fake_hub)
    labels = [c.label for c in models.find_choices(timeout=30)]
    assert labels == [BUNDLED.label, f"{REPO} (Hub)"]  # its base is read when it is chosen
    assert _tiles(labels[1], tmp_path / "hub.tif") > 0  # downloaded into the cache
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # the Hub is gone: the cached copy stays
    cached = models.find_choices(timeout=30)
    assert [c.label.endswith("on prithvi-v2-tiny-tl (cached)") for c in cached] == [False, True]
    assert cached[1].label.startswith(f"{REPO}@")
    assert models.contract(cached[1].label).name == "sen1floods11-tiny"
    assert _tiles(cached[1].label, tmp_path / "cached.tif") > 0


def test_a_silent_hub_does_not_hold_up_the_choices(monkeypatch):
    with socket.socket() as silent:  # accepts connections (the backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{silent.getsockname()[1]}")
        started = time.monotonic()
        choices = models.find_choices(timeout=1.0)
        assert time.monotonic() - started < 5
    assert choices == [BUNDLED]


def test_only_offered_labels_load(tmp_path):
    models.find_choices(hub=False)
    with pytest.raises(models.AdapterError, match="not one of the adapters"):
        _tiles(DEFAULT_ADAPTER, tmp_path / "refused.tif")
    assert not list(tmp_path.iterdir())
