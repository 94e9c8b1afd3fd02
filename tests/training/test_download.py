"""``download`` against the in-memory Hub on 127.0.0.1 (tests/hub_server.py)."""

import io
import tarfile
import zipfile
from pathlib import Path

import huggingface_hub.constants
import numpy as np
import rasterio

from tests.training.layouts import burn_name
from training.__main__ import main

REPO = "ibm-nasa-geospatial/hls_burn_scars"


def _chip_files(folder: Path) -> dict[str, bytes]:
    """Two small chips in the archive's folders, named as in the release."""
    files = {}
    for split, chip in (("training", "T10SEJ.2018185.v1"), ("validation", "T10SEJ.2018220.v1")):
        for suffix, count, dtype in (("_merged.tif", 6, "float32"), (".mask.tif", 1, "int16")):
            path = folder / burn_name(chip, suffix)
            grid = {"crs": "EPSG:32610", "transform": rasterio.Affine(30, 0, 699960, 0, -30, 5200020)}
            with rasterio.open(
                path, "w", driver="GTiff", width=64, height=64, count=count, dtype=dtype, **grid
            ) as dst:
                dst.write(np.random.default_rng(len(files)).random((count, 64, 64)).astype(dtype))
            files[f"{split}/{path.name}"] = path.read_bytes()
    return files


def _tar_gz(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_download_resumes_an_interrupted_transfer_and_unpacks(fake_hub, tmp_path, capsys, monkeypatch):
    # huggingface_hub writes in chunks of DOWNLOAD_CHUNK_SIZE (10 MB): make them small so that the
    # bytes received before the cut are kept and the next request asks for the rest.
    monkeypatch.setattr(huggingface_hub.constants, "DOWNLOAD_CHUNK_SIZE", 4096)
    files = _chip_files(tmp_path)
    archive = _tar_gz(files)
    fake_hub.add_files(REPO, {"hls_burn_scars.tar.gz": archive}, repo_type="dataset", lfs=True)
    fake_hub.interrupt["hls_burn_scars.tar.gz"] = len(archive) // 3
    root = tmp_path / "root"
    assert main(["download", "burn_scars", "--root", str(root)]) == 0
    (resumed,) = fake_hub.ranges  # one more request, for the rest of the file only
    assert 0 < int(resumed.removeprefix("bytes=").removesuffix("-")) <= len(archive) // 3
    for name, data in files.items():
        assert (root / name).read_bytes() == data
    assert not list(root.glob(".unpack-*")) and not (root / ".download" / "hls_burn_scars.tar.gz").exists()
    assert capsys.readouterr().out.split() == [str(root / "training"), str(root / "validation")]
    # Rerun: the folders are there, nothing is fetched.
    requests = len(fake_hub.requests)
    assert main(["download", "burn_scars", "--root", str(root)]) == 0
    assert len(fake_hub.requests) == requests


def test_download_refuses_a_file_that_fails_the_checksum(fake_hub, tmp_path, capsys):
    fake_hub.add_files(
        REPO, {"hls_burn_scars.tar.gz": _tar_gz(_chip_files(tmp_path))}, repo_type="dataset", lfs=True
    )
    fake_hub.corrupt.add("hls_burn_scars.tar.gz")
    root = tmp_path / "root"
    assert main(["download", "burn_scars", "--root", str(root)]) == 1
    err = capsys.readouterr().err
    assert "checksum" in err and "differs from the Hub's" in err and err.count("\n") == 1
    assert not (root / "training").exists() and not (root / ".download" / "hls_burn_scars.tar.gz").exists()


def test_download_geobench_zip_into_its_task_folder(fake_hub, tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("m-cashew-plant/default_partition.json", '{"train": [], "valid": [], "test": []}')
        z.writestr("m-cashew-plant/sample_0.hdf5", b"not read here")
    fake_hub.add_files(
        "recursix/geo-bench-1.0",
        {"segmentation_v1.0/m-cashew-plant.zip": buffer.getvalue()},
        repo_type="dataset",
    )
    root = tmp_path / "segmentation_v1.0"
    assert main(["download", "m_cashew_plantation", "--root", str(root)]) == 0
    assert (root / "m-cashew-plant" / "sample_0.hdf5").read_bytes() == b"not read here"


def test_download_of_a_missing_repository_is_one_line(fake_hub, tmp_path, capsys):
    assert main(["download", "burn_scars", "--root", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(
        "error: download of ibm-nasa-geospatial/hls_burn_scars/hls_burn_scars.tar.gz@main failed"
    )
    assert err.count("\n") == 1


def test_datasets_off_the_hub_say_where_to_get_them(tmp_path, capsys):
    assert main(["download", "reben", "--root", str(tmp_path)]) == 1
    assert "https://bigearth.net" in capsys.readouterr().err
    assert main(["download", "sen1floods11", "--root", str(tmp_path)]) == 1
    assert "gs://sen1floods11" in capsys.readouterr().err
