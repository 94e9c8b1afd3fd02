"""Data roots in the published layouts, written once per session (see layouts.py)."""

import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.training import layouts


@pytest.fixture(scope="session")
def burn_scars(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return layouts.write_burn_scars(tmp_path_factory.mktemp("burn") / "hls_burn_scars")


@pytest.fixture(scope="session")
def sen1floods11(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return layouts.write_sen1floods11(tmp_path_factory.mktemp("s1f11") / "sen1floods11")


@pytest.fixture(scope="session")
def cashew(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return layouts.write_geobench(tmp_path_factory.mktemp("cashew") / "segmentation_v1.0", "m-cashew-plant")


@pytest.fixture(scope="session")
def sa_crop(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return layouts.write_geobench(tmp_path_factory.mktemp("sa") / "segmentation_v1.0", "m-SA-crop-type")


@pytest.fixture(scope="session")
def reben_labels() -> dict[str, list[str]]:
    table = pq.read_table(layouts.REBEN / "metadata.parquet")
    return dict(zip(table["patch_id"].to_pylist(), table["labels"].to_pylist(), strict=True))


@pytest.fixture(scope="session")
def reben_raw(tmp_path_factory: pytest.TempPathFactory, reben_labels) -> tuple[Path, Path]:
    """The published reBEN layout, before ``prepare``."""
    return layouts.write_reben(tmp_path_factory.mktemp("reben") / "reBEN", reben_labels)


@pytest.fixture(scope="session")
def reben(tmp_path_factory: pytest.TempPathFactory, reben_raw) -> tuple[Path, Path]:
    """reBEN after ``prepare``: a copy of the raw root with S2_merged/."""
    from training.prepare import prepare_reben

    raw, splits = reben_raw
    root = tmp_path_factory.mktemp("reben-prepared") / "reBEN"
    shutil.copytree(raw, root)
    report = prepare_reben(root, splits=splits)
    assert report.errors == []
    return root, splits


def copy_root(root: Path, tmp_path: Path) -> Path:
    """A private copy of a session root that a test may damage."""
    target = tmp_path / root.name
    shutil.copytree(root, target)
    return target
