"""The output side fails under a running export: the disk under --out fills up, and two exports race for one
--out. Either way the folder never holds a half-written or mixed export."""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.conftest import (
    assert_no_staging_left,
    assert_nothing_published,
    assert_same_export,
    run_export,
    start_export,
)

_NO_SPACE = os.strerror(errno.ENOSPC)  # "No space left on device"


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 7 MiB tmpfs: room for one export (about 5 MiB with its Data Docs), not for a second one's staging."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=7m", "tmpfs", str(mount_point)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({mounted.stderr.strip()}); the in-process ENOSPC test covers it")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=False)


@pytest.mark.faults
def test_a_full_disk_keeps_the_earlier_export_and_publishes_nothing(
    sqlite_reference: tuple[str, Path], small_disk: Path
) -> None:
    """A real full disk (a tmpfs): the run fails writing its staging files, beside --out on the same disk."""
    url, expected = sqlite_reference
    out = small_disk / "out"
    shutil.copytree(expected, out)  # an earlier, complete export of the window
    before = _snapshot(out)

    done = run_export(url, out)
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("pulla-personalize export: error: cannot write ")  # then the file, in the staging
    assert f"for {out}: {_NO_SPACE}" in lines[0]
    assert "nothing was published" in lines[0]
    assert _snapshot(out) == before  # the earlier export is whole: nothing replaced, nothing half-written
    assert_no_staging_left(small_disk)

    # A first export on a disk with 1 MiB left leaves no folder at all.
    shutil.rmtree(out)
    (small_disk / "filler").write_bytes(b"\0" * (6 << 20))
    done = run_export(url, out)
    assert done.returncode == 2, done.stdout + done.stderr
    assert _NO_SPACE in done.stderr
    assert_nothing_published(out)
    assert sorted(path.name for path in small_disk.iterdir()) == ["filler"]


@pytest.mark.faults
def test_enospc_on_a_dataset_csv_names_it_and_publishes_nothing(
    sqlite_reference: tuple[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The same fault without a small disk (any user, any OS): writes of interactions.csv raise ENOSPC in-process,
    as a full disk does half-way through the biggest file."""
    from pulla_personalize.cli import main
    from pulla_personalize.csvout import DatasetCsvWriter, naming_file

    url, expected = sqlite_reference
    append = DatasetCsvWriter.append

    def full_disk(self: DatasetCsvWriter, frame: object) -> None:
        if self.path.name != "interactions.csv":
            return append(self, frame)
        with naming_file(self.path):
            raise OSError(errno.ENOSPC, _NO_SPACE)

    monkeypatch.setattr(DatasetCsvWriter, "append", full_disk)
    out = tmp_path / "out"
    shutil.copytree(expected, out)
    before = _snapshot(out)
    code = main(["export", "--db", url, "--start", "2025-12-02", "--end", "2026-01-01", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert f"cannot write interactions.csv for {out}: {_NO_SPACE} (errno 28); nothing was published" in err
    assert len(err.strip().splitlines()) == 1
    assert _snapshot(out) == before
    assert_no_staging_left(tmp_path)


@pytest.mark.faults
def test_an_export_refuses_an_out_another_export_holds(
    sqlite_reference: tuple[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The lock itself: while the folder's lock is held, an export refuses at once and touches nothing."""
    from pulla_personalize.cli import main

    url, expected = sqlite_reference
    out = tmp_path / "out"
    shutil.copytree(expected, out)
    before = _snapshot(out)
    holder = os.open(out, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
        code = main(["export", "--db", url, "--start", "2025-12-02", "--end", "2026-01-01", "--out", str(out)])
    finally:
        os.close(holder)
    err = capsys.readouterr().err
    assert code == 2
    assert f"another export is writing into {out}; this one wrote nothing" in err
    assert len(err.strip().splitlines()) == 1
    assert _snapshot(out) == before
    assert_no_staging_left(tmp_path)


@pytest.mark.faults
def test_two_exports_into_one_out_at_once_never_mix(sqlite_reference: tuple[str, Path], tmp_path: Path) -> None:
    """Two export processes started together on one --out: one publishes, the other refuses; the folder is
    byte for byte a clean single export."""
    url, expected = sqlite_reference
    out = tmp_path / "out"
    runs = [start_export(url, out), start_export(url, out)]
    outputs = [run.communicate(timeout=120) for run in runs]
    results = [(run.returncode, stdout, stderr) for run, (stdout, stderr) in zip(runs, outputs, strict=True)]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 2], results
    refused = next(stderr for code, _, stderr in results if code == 2)
    assert refused.strip() == (
        f"pulla-personalize export: error: another export is writing into {out}; this one wrote nothing "
        "(run it again when that one ends)"
    )
    assert_same_export(out, expected)
    assert sorted(path.name for path in out.iterdir()) == sorted(path.name for path in expected.iterdir())
    assert_no_staging_left(tmp_path)
