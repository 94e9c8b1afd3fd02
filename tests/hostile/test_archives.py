"""Dataset archives from a hostile Hub repository on 127.0.0.1 (``python -m training download``): members
that escape the data root, symlink and hard-link members pointing out of it, devices, and bombs (a
gzip stream that expands 1000x, zip members declaring terabytes). Each is a one-line error (exit 1)
before anything is written outside the unpacking folder, and the root is left as it was.

An absolute member name is unpacked below the root (tarfile's data filter drops the leading /).

Before issue 24: the declared sizes were not bounded (a 20 kB tar.gz wrote 20 MB, a 1 MB one would
write 1 GB); escapes and links were stopped by tarfile's data filter, untested.
"""

import io
import tarfile
import zipfile

import pytest

import training.download
from training.__main__ import main

REPO = "ibm-nasa-geospatial/hls_burn_scars"  # burn_scars: a tar.gz of training/ and validation/
TAR = "hls_burn_scars.tar.gz"
ZIP_REPO, ZIP = "recursix/geo-bench-1.0", "segmentation_v1.0/m-cashew-plant.zip"  # m_cashew_plantation


def tar_gz(*members: tuple[tarfile.TarInfo, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for folder in ("training", "validation"):
            info = tarfile.TarInfo(folder)
            info.type = tarfile.DIRTYPE
            tar.addfile(info)
        for info, data in members:
            info.size = len(data) if info.isfile() else 0
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return buffer.getvalue()


def member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info


def download(fake_hub, root, archive: bytes, capsys, *, zipped=False) -> str:
    repo, name = (ZIP_REPO, ZIP) if zipped else (REPO, TAR)
    fake_hub.add_files(repo, {name: archive}, repo_type="dataset", lfs=True)
    dataset = "m_cashew_plantation" if zipped else "burn_scars"
    assert main(["download", dataset, "--root", str(root)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize(
    ("evil", "message"),
    [
        (member("training/../../../escaped.txt"), "outside the destination"),
        (member("training/host", tarfile.SYMTYPE, "/etc/hostname"), "absolute path"),
        (member("training/up", tarfile.SYMTYPE, "../../../escaped.txt"), "outside the destination"),
        (member("training/hard", tarfile.LNKTYPE, "/etc/hostname"), "absolute path"),
        (member("training/zero", tarfile.CHRTYPE), "is a special file"),
    ],
    ids=["dot-dot", "symlink out", "relative symlink out", "hard link out", "device"],
)
def test_members_that_escape_or_link_out_are_refused(evil, message, fake_hub, tmp_path, capsys):
    root = tmp_path / "data" / "root"
    root.mkdir(parents=True)
    archive = tar_gz((member("training/chip.tif"), b"chip"), (evil, b"pwned"))
    assert message in download(fake_hub, root, archive, capsys)
    assert not (tmp_path / "data" / "escaped.txt").exists() and not (tmp_path / "escaped.txt").exists()
    assert sorted(p.name for p in root.iterdir()) == [".download"]  # no folder, no staging left


def test_an_absolute_member_lands_inside(fake_hub, tmp_path, capsys):
    outside = tmp_path / "absolute.txt"  # the member names this file by its absolute path
    archive = tar_gz((member("training/chip.tif"), b"chip"), (member(str(outside)), b"pwned"))
    fake_hub.add_files(REPO, {TAR: archive}, repo_type="dataset", lfs=True)
    root = tmp_path / "root"
    assert main(["download", "burn_scars", "--root", str(root)]) == 0
    assert not outside.exists() and (root / "training" / "chip.tif").read_bytes() == b"chip"


def test_a_gzip_bomb_is_refused_before_it_is_written(fake_hub, tmp_path, capsys):
    archive = tar_gz((member("training/zeros.tif"), bytes(20 << 20)))  # 20 MB of zeros in ~20 kB
    assert len(archive) * training.download.MAX_RATIO < 20 << 20
    err = download(fake_hub, tmp_path, archive, capsys)
    assert "declare over" in err and "100 times the archive's size" in err
    assert not (tmp_path / "training").exists() and not list(tmp_path.glob(".unpack-*"))


def test_zip_members_declaring_terabytes_are_refused_unread(fake_hub, tmp_path, capsys):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("m-cashew-plant/a.hdf5", b"x")
    data = bytearray(buffer.getvalue())
    # the central directory's uncompressed size of the member: 4 GB - 1, declared, not true
    at = data.rindex(b"PK\x01\x02") + 24
    data[at : at + 4] = (2**32 - 1).to_bytes(4, "little")
    err = download(fake_hub, tmp_path, bytes(data), capsys, zipped=True)
    assert "declare over" in err and not (tmp_path / "m-cashew-plant").exists()


def test_zip_names_that_escape_stay_inside(fake_hub, tmp_path, capsys):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("m-cashew-plant/../../escaped.txt", b"pwned")
        z.writestr("/tmp/hostile-zip-absolute.txt", b"pwned")
        z.writestr("m-cashew-plant/default_partition.json", "{}")
    fake_hub.add_files(ZIP_REPO, {ZIP: buffer.getvalue()}, repo_type="dataset", lfs=True)
    root = tmp_path / "root"
    assert main(["download", "m_cashew_plantation", "--root", str(root)]) == 0
    assert not (tmp_path / "escaped.txt").exists() and not list(tmp_path.glob("**/hostile-zip-absolute.txt"))
    assert (root / "m-cashew-plant" / "default_partition.json").read_text() == "{}"


def test_too_many_members_are_refused(fake_hub, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(training.download, "MAX_MEMBERS", 10)  # a million members would take minutes
    archive = tar_gz(*[(member(f"training/{i}.tif"), b"x") for i in range(20)])
    assert "over 10 members" in download(fake_hub, tmp_path, archive, capsys)
    assert not (tmp_path / "training").exists()
