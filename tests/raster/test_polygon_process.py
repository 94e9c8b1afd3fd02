"""Polygons made in a child process: the same file as in this process, the child's errors raised here as
themselves, and nothing published when either side fails (an error here, an error there, a killed child)."""

import os
import pickle
import signal

import numpy as np
import pyarrow.parquet as pq
import pyogrio
import pytest
import shapely
from rasterio.crs import CRS
from rasterio.transform import Affine

from geoadapters.errors import MissingDependencyError, OptionError, OutputExistsError, RasterError
from geoadapters.raster.outputs import VectorOptions
from geoadapters.raster.polygon_process import PolygonProcess
from geoadapters.raster.vector import PolygonWriter, RasterGrid
from tests.raster.test_vector import real_labels

CLASSES = ["land", "water"]
GRID = RasterGrid(512, 512, CRS.from_epsg(32633), Affine(10, 0, 500_000, 0, -10, 4_500_000))


def labels() -> np.ndarray:
    return real_labels()[:512, :512]


def write(writer: PolygonWriter | PolygonProcess, values: np.ndarray, strip: int = 100) -> None:
    confidence = np.linspace(0.5, 1, values.size).reshape(values.shape)
    for top in range(0, values.shape[0], strip):
        writer.write(top, values[top : top + strip], confidence[top : top + strip])


def read(path):
    """Field names, WKB geometries and field columns of a polygon file."""
    if path.suffix == ".parquet":
        table = pq.read_table(path)
        names = [n for n in table.column_names if n != "geometry"]
        return names, table["geometry"].to_numpy(), [table[n].to_numpy() for n in names]
    meta, _, geometry, fields = pyogrio.raw.read(path)
    return meta["fields"].tolist(), geometry, fields


def leftovers(folder, name):
    return [p.name for p in folder.iterdir() if p.name != name]


@pytest.mark.parametrize("suffix", [".gpkg", ".parquet"])
def test_the_child_writes_the_file_this_process_writes(tmp_path, suffix):
    values = labels()
    with PolygonWriter(tmp_path / f"here{suffix}", GRID, classes=CLASSES) as here:
        write(here, values)
    with PolygonProcess(tmp_path / f"child{suffix}", GRID, classes=CLASSES) as child:
        write(child, values)
    (names, ours, fields), (child_names, theirs, child_fields) = (
        read(tmp_path / f"{n}{suffix}") for n in ("here", "child")
    )
    assert names == child_names and len(ours) > 100
    assert shapely.equals(shapely.from_wkb(ours), shapely.from_wkb(theirs)).all()
    for a, b in zip(fields, child_fields, strict=True):
        np.testing.assert_array_equal(a, b)


def test_what_the_writer_refuses_is_refused_before_a_child_starts(tmp_path):
    (tmp_path / "there.gpkg").write_bytes(b"x")
    with pytest.raises(OutputExistsError):
        PolygonProcess(tmp_path / "there.gpkg", GRID, classes=CLASSES)
    with pytest.raises(OptionError, match="vector classes forest"):
        PolygonProcess(tmp_path / "a.gpkg", GRID, classes=CLASSES, options=VectorOptions(classes=("forest",)))
    with pytest.raises(RasterError, match="must end in"):
        PolygonProcess(tmp_path / "a.shp", GRID, classes=CLASSES)
    assert leftovers(tmp_path, "there.gpkg") == []


def test_an_error_in_the_child_is_raised_here_and_nothing_is_published(tmp_path):
    values = labels()
    out = tmp_path / "p.gpkg"
    refused = pytest.raises(RasterError, match="rows must come in order: expected row 100, got 300")
    with refused, PolygonProcess(out, GRID, classes=CLASSES) as child:
        child.write(0, values[:100], None)
        child.write(300, values[300:400], None)
        for _ in range(50):  # raised from a later write once the child has stopped, else on leaving
            child.write(400, values[400:500], None)
    assert not out.exists() and leftovers(tmp_path, out.name) == []


def test_an_error_here_discards_what_the_child_made(tmp_path):
    out = tmp_path / "p.parquet"
    with pytest.raises(KeyboardInterrupt), PolygonProcess(out, GRID, classes=CLASSES) as child:
        write(child, labels()[:300])
        raise KeyboardInterrupt
    assert child._child.returncode == 0  # it ended before the context was left
    assert not out.exists() and leftovers(tmp_path, out.name) == []


def test_a_killed_child_is_an_error_not_a_file(tmp_path):
    out = tmp_path / "p.gpkg"
    values = labels()
    ended = pytest.raises(RasterError, match="ended unasked")
    with ended, PolygonProcess(out, GRID, classes=CLASSES) as child:
        child.write(0, values[:100], None)
        os.kill(child._child.pid, signal.SIGKILL)
        for top in range(100, 512, 100):
            child.write(top, values[top : top + 100], None)
    assert not out.exists()


def test_a_missing_dependency_travels_as_itself():
    err = MissingDependencyError("vector output (pyogrio, shapely, scipy)", extra="vector")
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is MissingDependencyError and str(back) == str(err) and back.extra == "vector"
