"""``python -m training`` on fixtures: counts, bad files by path with exit code 1, prepare, splits."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio

from tests.training import layouts
from tests.training.conftest import copy_root
from training.__main__ import main

FIXTURES = {
    "burn_scars": ("burn_scars", {"train": 3, "val": 2, "test": 2}),
    "sen1floods11": ("sen1floods11", {"train": 3, "val": 2, "test": 2, "bolivia": 2}),
    "m_cashew_plantation": ("cashew", {"train": 1, "val": 1, "test": 1}),
    "m_sa_crop_type": ("sa_crop", {"train": 1, "val": 1, "test": 1}),
    "reben": ("reben", {"train": 3, "val": 2, "test": 2, "ood": 2, "austria": 2, "ireland": 2}),
}


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("name", list(FIXTURES))
def test_data_check_json_counts_every_split(name, capsys, request):
    fixture, counts = FIXTURES[name]
    root, splits = request.getfixturevalue(fixture)
    code, out, err = run(
        capsys, "data", "check", name, "--root", root, "--splits", splits, "--base", "prithvi-300", "--json"
    )
    assert code == 0, err
    report = json.loads(out)
    assert report["dataset"] == name
    assert {split: s["samples"] for split, s in report["splits"].items()} == counts
    assert all(s["read"] == s["samples"] for s in report["splits"].values())
    assert report["bands"] == ["BLUE", "GREEN", "RED", "NIR_NARROW", "SWIR_1", "SWIR_2"]
    assert report["errors"] == []


def test_data_check_reports_label_histogram_and_range(burn_scars, capsys):
    root, splits = burn_scars
    code, out, _ = run(capsys, "data", "check", "burn_scars", "--root", root, "--splits", splits, "--json")
    assert code == 0
    report = json.loads(out)["splits"]["test"]
    masks = []
    for chip in layouts.BURN_SPLITS["test"]:
        with rasterio.open(root / "training" / layouts.burn_name(chip, ".mask.tif")) as src:
            masks.append(src.read(1))
    values, counts = np.unique(np.stack(masks), return_counts=True)
    assert report["labels"] == {str(v): int(c) for v, c in zip(values, counts, strict=True)}
    assert report["image_shapes"] == [[6, 512, 512]] and report["mask_dtype"] == "int64"
    assert len(report["normalised_min"]) == 6 and min(report["normalised_min"]) < 0 < max(
        report["normalised_max"]
    )


def _damage(path: Path, how: str) -> None:
    if how == "deleted":
        path.unlink()
    elif how == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])
    else:
        path.write_bytes(np.random.default_rng(0).bytes(path.stat().st_size))


@pytest.mark.parametrize("how", ["deleted", "truncated", "corrupt"])
@pytest.mark.parametrize(
    ("name", "fixture", "relative"),
    [
        ("burn_scars", "burn_scars", f"validation/{layouts.burn_name('T10SFG.2020185.v1', '_merged.tif')}"),
        ("m_cashew_plantation", "cashew", "m-cashew-plant/sample_1.hdf5"),
        ("reben", "reben", f"S2_merged/{layouts.REBEN_MAP_PATCH}.tif"),
    ],
)
def test_data_check_names_a_bad_file_and_exits_1(name, fixture, relative, how, capsys, request, tmp_path):
    root, splits = request.getfixturevalue(fixture)
    root = copy_root(root, tmp_path)
    _damage(root / relative, how)
    args = ["data", "check", name, "--root", root] + (
        ["--splits", splits] if name != "m_cashew_plantation" else []
    )
    code, out, err = run(capsys, *args)
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1
    # A missing burn scars chip could be in either folder: the message names the file and the root.
    path = root / relative
    expected = (
        f"{path.name}: file is missing from {root}" if (name, how) == ("burn_scars", "deleted") else str(path)
    )
    assert expected in lines[0] and "Traceback" not in err
    assert "samples" in out  # the rest of the data is still reported


def test_bad_root_is_one_line_and_exit_1(tmp_path, capsys):
    code, _, err = run(capsys, "data", "check", "sen1floods11", "--root", tmp_path)
    assert code == 1
    assert err.count("\n") == 1 and "gs://sen1floods11" in err and str(tmp_path) in err


def test_module_runs_from_a_checkout(burn_scars):
    root, splits = burn_scars
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "training",
            "splits",
            "check",
            "burn_scars",
            "--root",
            root,
            "--splits",
            splits,
        ],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parents[2],
    )
    assert result.returncode == 0, result.stderr
    assert "burn_scars: train 3, val 2, test 2" in result.stdout


def test_splits_check_on_the_shipped_lists(capsys):
    code, out, err = run(capsys, "splits", "check")
    assert code == 0, err
    assert "burn_scars: train 524, val 160, test 120" in out
    assert "sen1floods11: train 252, val 89, test 90, bolivia 15" in out
    assert "reben: train 4690, val 946, test 945, ood 807" in out


def test_splits_check_finds_shared_ids_and_wrong_counts(tmp_path, capsys):
    chip = "T10SEJ.2018185.v1"
    own = layouts.write_lists(
        tmp_path, {"train_data.txt": [chip], "val_data.txt": [chip], "test_data.txt": []}
    )
    code, _, err = run(capsys, "splits", "check", "burn_scars", "--splits", own)
    assert code == 1 and "train and val share 1 ids, e.g. T10SEJ.2018185.v1" in err


@pytest.mark.parametrize("name", ["sen1floods11", "reben", "m_sa_crop_type"])
def test_splits_check_resolves_every_id_in_a_root(name, capsys, request, tmp_path):
    fixture, _ = FIXTURES[name]
    root, splits = request.getfixturevalue(fixture)
    args = ["splits", "check", name, "--root", root] + (
        ["--splits", splits] if name != "m_sa_crop_type" else []
    )
    assert run(capsys, *args)[0] == 0
    root = copy_root(root, tmp_path)
    pattern = {"sen1floods11": "*_LabelHand.tif", "reben": "*_reference_map.tif", "m_sa_crop_type": "*.hdf5"}[
        name
    ]
    victim = next(root.rglob(pattern))
    victim.unlink()
    args[4] = str(root)
    code, _, err = run(capsys, *args)
    assert code == 1 and f"{victim}: file is missing" in err


def test_splits_check_reports_overlapping_burn_scar_chips(burn_scars, capsys, tmp_path):
    root, splits = burn_scars
    root = copy_root(root, tmp_path)
    val_chip = root / "validation" / layouts.burn_name("T10SEJ.2018220.v1", "_merged.tif")
    with rasterio.open(root / "training" / layouts.burn_name("T10SEJ.2018185.v1", "_merged.tif")) as src:
        train_transform = src.transform
    with rasterio.open(val_chip, "r+") as dst:  # move the val chip to half over a train chip
        dst.transform = train_transform * rasterio.Affine.translation(256, 0)
    code, _, err = run(capsys, "splits", "check", "burn_scars", "--root", root, "--splits", splits)
    assert code == 1
    assert "T10SEJ.2018185.v1 (train) and T10SEJ.2018220.v1 (val) overlap: 50.0 % of a chip" in err


def test_prepare_merges_bands_onto_the_10m_grid_and_is_idempotent(reben_raw, capsys, tmp_path):
    raw, splits = reben_raw
    root = copy_root(raw, tmp_path)
    code, out, err = run(capsys, "prepare", "reben", "--root", root, "--splits", splits)
    assert code == 0, err
    assert "merged 11 patches" in out
    merged = root / "S2_merged" / f"{layouts.REBEN_PATCH}.tif"
    band_dir = layouts.REBEN
    expected = []
    for band in layouts.REBEN_BANDS:
        with rasterio.open(band_dir / f"{layouts.REBEN_PATCH}_{band}.tif") as src:
            data = src.read(1)
        factor = 120 // data.shape[0]  # 1, 2 or 6: nearest upsampling repeats pixels
        expected.append(np.repeat(np.repeat(data, factor, 0), factor, 1))
    with rasterio.open(merged) as src, rasterio.open(band_dir / f"{layouts.REBEN_PATCH}_B02.tif") as b02:
        assert src.dtypes[0] == "float32" and src.count == 12
        assert src.transform == b02.transform and src.crs == b02.crs
        np.testing.assert_array_equal(src.read(), np.stack(expected).astype(np.float32))
    mtime = merged.stat().st_mtime_ns
    code, out, _ = run(capsys, "prepare", "reben", "--root", root, "--splits", splits)
    assert code == 0 and "merged 0 patches, kept 11" in out and merged.stat().st_mtime_ns == mtime
    assert not list((root / "S2_merged").glob(".*"))  # no temporary files left


def test_prepare_names_a_missing_band_file(reben_raw, capsys, tmp_path):
    raw, splits = reben_raw
    root = copy_root(raw, tmp_path)
    victim = next(root.rglob("*T34VER_04_62_B8A.tif"))
    victim.unlink()
    code, out, err = run(capsys, "prepare", "reben", "--root", root, "--splits", splits)
    assert code == 1 and err.strip() == f"{victim}: file is missing" and "merged 10 patches" in out
    assert not (root / "S2_merged" / "S2A_MSIL2A_20170613T101031_N9999_R022_T34VER_04_62.tif").exists()
