"""Outputs never destroy data: an output that is the input, duplicate targets, concurrent runs,
SIGTERM mid-run, stale staging folders, outputs that are folders, a full disk.

Each case asserts the exit code and one-line error, that the inputs and earlier outputs are byte for
byte intact, and that nothing but the expected output was written.
"""

import os
import signal
import subprocess
import sys
import time

import pytest

from geoadapters._staging import _host, staged_dir, staged_file
from geoadapters.cli.main import main
from geoadapters.errors import OutputExistsError, RasterError
from geoadapters.inference.predict import predict_raster
from geoadapters.inference.torch_runner import TorchRunner
from tests.conftest import S2_CHIP, TEST_BASE, files_under, perturbed_model


@pytest.fixture(scope="module")
def model(checkpoint):
    return perturbed_model("lora", "linear", checkpoint)


@pytest.fixture(scope="module")
def adapter(model, tmp_path_factory):
    return model.save_pretrained(tmp_path_factory.mktemp("adapters") / "sen1floods11-lora")


def args(scenes, adapter, checkpoint, *extra):
    return ["predict", *map(str, scenes), "--model", TEST_BASE, "--adapter", str(adapter),
            "--checkpoint", str(checkpoint), *map(str, extra)]  # fmt: skip


def one_line(capsys, code, rc):
    err = capsys.readouterr().err.strip()
    assert rc == code, err
    assert "\n" not in err and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("kind", ["same path", "hard link", "symlink"])
def test_an_output_that_is_the_input_is_refused_even_with_overwrite(kind, tmp_path, model, adapter,
                                                                    checkpoint, capsys):  # fmt: skip
    scene = tmp_path / "scene.tif"
    scene.write_bytes(S2_CHIP.read_bytes())
    output = {"same path": scene, "hard link": tmp_path / "link.tif", "symlink": tmp_path / "sym.tif"}[kind]
    if kind == "hard link":
        os.link(scene, output)
    elif kind == "symlink":
        output.symlink_to(scene)
    before = files_under(tmp_path)
    rc = main(args([scene], adapter, checkpoint, "-o", output, "--overwrite"))
    assert "is the input scene" in one_line(capsys, 1, rc)
    with pytest.raises(RasterError, match=r"is the input scene .* itself"):
        predict_raster(scene, output, TorchRunner(model), overwrite=True)
    assert files_under(tmp_path) == before


def test_duplicate_targets_are_refused_before_the_first_prediction(tmp_path, adapter, checkpoint, capsys):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "scene.tif").write_bytes(S2_CHIP.read_bytes())
    before = files_under(tmp_path)
    rc = main(args([tmp_path / "a" / "scene.tif", tmp_path / "b" / "scene.tif"], adapter, checkpoint,
                   "-o", tmp_path / "out"))  # fmt: skip
    assert "would both be written to" in one_line(capsys, 1, rc)
    assert files_under(tmp_path) == before and not (tmp_path / "out").exists()


def test_existing_outputs_are_refused_before_the_first_prediction(tmp_path, adapter, checkpoint, capsys):
    for name in ("one", "two"):
        (tmp_path / f"{name}.tif").write_bytes(S2_CHIP.read_bytes())
    (tmp_path / "two_pred.tif").write_bytes(b"earlier result")
    before = files_under(tmp_path)
    rc = main(args([tmp_path / "one.tif", tmp_path / "two.tif"], adapter, checkpoint))
    assert "two_pred.tif exists" in one_line(capsys, 1, rc)
    assert files_under(tmp_path) == before  # one_pred.tif was not written either


def test_an_output_name_that_is_no_geotiff_creates_no_folder(tmp_path, adapter, checkpoint, capsys):
    rc = main(args([S2_CHIP], adapter, checkpoint, "-o", tmp_path / "result.geotiff"))
    assert "outputs are GeoTIFFs" in one_line(capsys, 1, rc)
    assert list(tmp_path.iterdir()) == []


def test_an_output_that_is_a_folder_is_not_replaced(tmp_path, model):
    (tmp_path / "out.tif").mkdir()
    (tmp_path / "out.tif" / "keep").write_text("mine")
    for overwrite in (False, True):
        with pytest.raises(OutputExistsError, match="folder"):
            predict_raster(S2_CHIP, tmp_path / "out.tif", TorchRunner(model), overwrite=overwrite)
    assert files_under(tmp_path) == {"out.tif/keep": b"mine"}


def test_a_file_published_meanwhile_is_never_replaced(tmp_path):
    dest = tmp_path / "out.tif"
    with pytest.raises(OutputExistsError), staged_file(dest) as path:
        path.write_bytes(b"ours")
        dest.write_bytes(b"the other run's")  # another run published first
    assert files_under(tmp_path) == {"out.tif": b"the other run's"}
    folder = tmp_path / "adapter"
    with pytest.raises(OutputExistsError), staged_dir(folder) as staging:
        (staging / "a").write_bytes(b"ours")
        folder.mkdir()
        (folder / "a").write_bytes(b"theirs")
    assert files_under(tmp_path) == {"out.tif": b"the other run's", "adapter/a": b"theirs"}


# the CLI in a subprocess, with the test base registered
MAIN = "import sys, tests.conftest; from geoadapters.cli.main import main; sys.exit(main(sys.argv[1:]))"


def cli(*argv):
    return [sys.executable, "-c", MAIN, *map(str, argv)]


def test_two_runs_writing_the_same_new_output_do_not_both_succeed(tmp_path, adapter, checkpoint):
    command = cli(*args([S2_CHIP], adapter, checkpoint, "-o", tmp_path / "out.tif", "--tile-size", "64"))
    runs = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in "ab"
    ]
    results = [(run.wait(300), run.stderr.read(), run.stdout.read()) for run in runs]
    if [code for code, *_ in results] == [0, 0]:  # one finished before the other looked: it resumed
        assert sum("(up to date, skipped)" in out for *_, out in results) == 1, results
    else:
        assert sorted(code for code, *_ in results) == [0, 1], results
        assert any("exists" in err for code, err, _ in results if code == 1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tif", "out.tif.aux.xml"]  # class names


def test_sigterm_removes_the_partial_output(tmp_path, adapter, checkpoint):
    slow = ("--tile-size", "32", "--overlap", "0", "--batch-size", "1")
    command = cli(*args([S2_CHIP], adapter, checkpoint, "-o", tmp_path / "out.tif", *slow))
    run = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not any(p.name.endswith(".tmp") for p in tmp_path.iterdir()) and run.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    run.send_signal(signal.SIGTERM)
    code = run.wait(60)
    if code == 0:
        pytest.skip("the prediction finished before SIGTERM arrived")
    assert code == 1 and run.stderr.read().strip() == "Aborted."
    assert list(tmp_path.iterdir()) == []


def test_stale_staging_folders_of_dead_processes_are_removed(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".out.tif.{_host()}.{dead.pid}.abc123.tmp"
    live = tmp_path / f".out.tif.{_host()}.{os.getpid()}.def456.tmp"
    other_host = tmp_path / f".out.tif.elsewhere.{dead.pid}.ghi789.tmp"
    for folder in (stale, live, other_host):
        folder.mkdir()
        (folder / "partial.out.tif").write_bytes(b"half")
    with staged_file(tmp_path / "out.tif") as path:
        path.write_bytes(b"new")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["out.tif", live.name, other_host.name])


def test_a_full_disk_is_a_one_line_error_and_leaves_nothing(tmp_path, adapter, checkpoint):
    """RLIMIT_FSIZE makes every write past 20 kB fail as a full disk would (EFBIG)."""
    code = (
        "import resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
        "resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000)); "
        "import tests.conftest; from geoadapters.cli.main import main; sys.exit(main(sys.argv[1:]))"
    )
    argv = args([S2_CHIP], adapter, checkpoint, "-o", tmp_path / "out.tif", "--probabilities")
    result = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True)
    assert result.returncode == 1, result.stderr
    # libtiff prints its own "File too large" to stderr before our one line
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: writing") and "Traceback" not in result.stderr, result.stderr
    assert list(tmp_path.iterdir()) == []
