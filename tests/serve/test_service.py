"""``geoadapters serve`` against the running service on 127.0.0.1 (uvicorn in a thread)."""

import contextlib
import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import rasterio
from rasterio.io import MemoryFile
from rasterio.windows import Window

from geoadapters.cli.main import main
from geoadapters.resident import ResidentAdapters
from tests.conftest import TEST_BASE, perturbed_model
from tests.range_server import RangeServer
from tests.scenes import chip_pixels, write_like

httpx = pytest.importorskip("httpx")
uvicorn = pytest.importorskip("uvicorn")
from geoadapters.serve.app import create_app  # noqa: E402
from geoadapters.serve.settings import ServeSettings  # noqa: E402

METHODS = (("lora", "linear"), ("vpt", "linear"), ("linear_probe", "linear"))
BUDGET_GB = 0.5


@pytest.fixture(scope="module")
def folders(tmp_path_factory, checkpoint):
    root = tmp_path_factory.mktemp("adapters")
    return [
        perturbed_model(method, head, checkpoint).save_pretrained(root / f"{method}-adapter")
        for method, head in METHODS
    ]


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    return write_like(tmp_path_factory.mktemp("scene") / "scene.tif", chip_pixels(Window(0, 0, 150, 130)))


@contextlib.contextmanager
def serving(settings, resident):
    """The service on a free port of 127.0.0.1, in a thread; its base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(create_app(settings, resident), host="127.0.0.1", port=port, log_level="error")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def _classes(data):
    with MemoryFile(data) as memory, memory.open() as src:
        return src.read(1)


def _post(url, scene, adapter, **fields):
    files = {"file": ("scene.tif", scene.read_bytes(), "image/tiff")}
    return httpx.post(f"{url}/predict", files=files, data={"adapter": str(adapter), **fields}, timeout=120)


def test_concurrent_requests_over_three_adapters_answer_the_cli_class_maps(
    tmp_path, folders, scene, checkpoint
):
    expected = []
    for k, folder in enumerate(folders):
        out = tmp_path / f"cli-{k}.tif"
        argv = ["predict", str(scene), "--adapter", str(folder), "--model", TEST_BASE]
        assert main([*argv, "--checkpoint", str(checkpoint), "--device", "cpu", "-o", str(out)]) == 0
        with rasterio.open(out) as src:
            expected.append(src.read(1))
    assert len({e.tobytes() for e in expected}) == 3
    resident = ResidentAdapters(BUDGET_GB, checkpoint={TEST_BASE: checkpoint}, device="cpu")
    offered = tuple(map(str, folders))
    settings = ServeSettings(concurrency=3, queue=40, base=TEST_BASE, budget_gb=BUDGET_GB, available=offered)
    with serving(settings, resident) as url:
        with ThreadPoolExecutor(30) as pool:
            answers = list(pool.map(lambda k: (k % 3, _post(url, scene, folders[k % 3])), range(30)))
        for k, answer in answers:
            assert answer.status_code == 200, answer.text
            assert answer.headers["content-type"] == "image/tiff"
            assert np.array_equal(_classes(answer.content), expected[k]), k
        health = httpx.get(f"{url}/health").json()
        assert health["status"] == "ok" and health["memory_bytes"] <= health["budget_bytes"]
        listed = httpx.get(f"{url}/adapters").json()
        assert len(listed["resident"]) == 3
        bundle = _post(url, scene, folders[0], probabilities="true", areas="true")
        assert bundle.status_code == 200 and bundle.headers["content-type"] == "application/zip"


def test_a_full_queue_answers_503_and_bad_requests_4xx(tmp_path, folders, scene, checkpoint):
    resident = ResidentAdapters(BUDGET_GB, checkpoint={TEST_BASE: checkpoint}, device="cpu")
    settings = ServeSettings(
        concurrency=1,
        queue=0,
        base=TEST_BASE,
        budget_gb=BUDGET_GB,
        max_request_mb=1,
        max_pixels=150 * 130,
        available=tuple(map(str, folders)),
    )
    big = write_like(tmp_path / "big.tif", np.tile(chip_pixels(Window(0, 0, 150, 130)), (1, 2, 1)))
    corrupt = tmp_path / "corrupt.tif"
    corrupt.write_bytes(b"II*\x00 not a tiff" * 10)
    with serving(settings, resident) as url:
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda k: _post(url, scene, folders[0]), range(8)))
        codes = sorted(a.status_code for a in answers)
        assert 200 in codes and 503 in codes and set(codes) <= {200, 503}
        busy = next(a for a in answers if a.status_code == 503)
        assert busy.headers["retry-after"] == "5" and "busy" in busy.json()["error"]
        oversize = httpx.post(
            f"{url}/predict", files={"file": ("x.tif", b"0" * (2 << 20))}, data={"adapter": "a"}
        )
        bad = {
            "oversize body": oversize,
            "too many pixels": _post(url, big, folders[0]),
            "not multipart": httpx.post(
                f"{url}/predict", content=b"{}", headers={"content-type": "application/json"}
            ),
            "no adapter": httpx.post(f"{url}/predict", files={"file": ("s.tif", scene.read_bytes())}),
            "no scene": httpx.post(f"{url}/predict", data={"adapter": str(folders[0])}),
            "unknown adapter": _post(url, scene, tmp_path / "missing"),
            "corrupt scene": _post(url, corrupt, folders[0]),
            "bad vector": _post(url, scene, folders[0], vector="shp"),
        }
        for case, answer in bad.items():
            assert 400 <= answer.status_code < 500, (case, answer.status_code, answer.text)
            error = answer.json()["error"]
            assert error and "\n" not in error and "geoadapters-serve-" not in error, (case, error)
        assert bad["oversize body"].status_code == 413 and bad["too many pixels"].status_code == 413
        assert httpx.get(f"{url}/health").json()["status"] == "ok"  # still up
        assert resident.used <= resident.budget
        assert _post(url, scene, folders[1]).status_code == 200


def _item(href):
    """A STAC 1.0 Item of one 6-band asset at `href`, its bands named by ``eo:bands`` common names."""
    names = ("blue", "green", "red", "nir08", "swir16", "swir22")
    asset = {
        "href": href,
        "type": "image/tiff",
        "roles": ["data"],
        "eo:bands": [{"common_name": n} for n in names],
    }
    return {
        "type": "Feature", "stac_version": "1.0.0", "id": "scene", "bbox": [0, 0, 1, 1],
        "stac_extensions": ["https://stac-extensions.github.io/eo/v1.1.0/schema.json"],
        "geometry": {"type": "Point", "coordinates": [0, 0]}, "links": [], "assets": {"data": asset},
        "properties": {"datetime": "2016-09-12T00:00:00Z"},
    }  # fmt: skip


def test_a_stac_item_href_answers_the_cli_class_map_and_a_hostile_one_is_refused(
    tmp_path, folders, scene, checkpoint
):
    out = tmp_path / "cli.tif"
    argv = ["predict", str(scene), "--adapter", str(folders[0]), "--model", TEST_BASE]
    assert main([*argv, "--checkpoint", str(checkpoint), "--device", "cpu", "-o", str(out)]) == 0
    with rasterio.open(out) as src:
        expected = src.read(1)
    root = tmp_path / "served"
    root.mkdir()
    write_like(root / "scene.tif", chip_pixels(Window(0, 0, 150, 130))[[1, 2, 3, 8, 11, 12]])  # the 6 bands
    big = np.tile(chip_pixels(Window(0, 0, 150, 130))[[1, 2, 3, 8, 11, 12]], (1, 2, 1))
    write_like(root / "big.tif", big)
    items = {
        "item": "scene.tif", "system file": "file:///etc/passwd", "root path": "/etc/passwd",
        "big": "./big.tif",
    }  # fmt: skip
    for name, href in items.items():
        (root / f"{name.replace(' ', '_')}.json").write_text(json.dumps(_item(href)))
    resident = ResidentAdapters(BUDGET_GB, checkpoint={TEST_BASE: checkpoint}, device="cpu")
    settings = ServeSettings(
        base=TEST_BASE, budget_gb=BUDGET_GB, max_pixels=150 * 130, available=(str(folders[0]),)
    )
    with RangeServer(root) as files, serving(settings, resident) as url:

        def post(name):
            data = {"adapter": str(folders[0]), "url": f"{files.url}/{name.replace(' ', '_')}.json"}
            return httpx.post(f"{url}/predict", data=data, timeout=120)

        answer = post("item")
        assert answer.status_code == 200, answer.text
        assert np.array_equal(_classes(answer.content), expected)
        for name in ("system file", "root path", "big"):
            refused = post(name)
            assert 400 <= refused.status_code < 500, (name, refused.text)
            error = refused.json()["error"]
            assert error and "\n" not in error and "root:" not in error and "geoadapters-serve-" not in error
        assert post("big").status_code == 413
        assert "file:// URLs are not read" in post("system file").json()["error"]
