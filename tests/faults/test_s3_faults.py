"""S3 goes away in the middle of staging a folder or of publishing an archive (issue 14).

Moto's S3 server runs as a process of its own. A botocore ``before-send`` hook counts the calls of one operation
and, at the chosen one, first lists the destination (what an import started at that moment would read), then kills
the server (SIGKILL) or drops the connection, so the fault lands at the same point on every run. The call must
fail with a :class:`StagingError` naming the file or object, the destination must never have shown a partial new
set, and a rerun must publish the very bytes of a clean run (same ETags). Moto forgets everything when killed, so
after the restart the bucket is created again and the rerun starts from an empty bucket.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ConnectionClosedError

from personalize_provider.staging import StagingError, list_keys, publish_s3_objects, stage_folder

from .conftest import ServerProcess, s3_client

pytestmark = pytest.mark.faults

BUCKET = "pulla-faults"
DESTINATION = "import/interactions/20261127/"
ARCHIVE = "runs/20261127/"


def write_parts(folder: Path, version: str, count: int = 3) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for part in range(count):
        rows = "".join(f"U{version}{part}{n},P{n},17645{n:05d}\n" for n in range(40))
        (folder / f"part-{part:04d}.csv").write_text("USER_ID,ITEM_ID,TIMESTAMP\n" + rows)
    return folder


def md5s(folder: Path) -> dict[str, str]:
    """The ETags a single-part upload of each file gets: the MD5 of its bytes."""
    return {path.name: hashlib.md5(path.read_bytes()).hexdigest() for path in sorted(folder.glob("*.csv"))}


def etags(s3: Any, prefix: str) -> dict[str, str]:
    found = {}
    for key in list_keys(s3, BUCKET, prefix):
        found[key[len(prefix) :]] = s3.head_object(Bucket=BUCKET, Key=key)["ETag"].strip('"')
    return found


def create_bucket(s3: Any) -> None:
    s3.create_bucket(Bucket=BUCKET)


def at_call(s3: Any, operation: str, number: int, fault: Callable[[], None], observe: Callable[[], Any]) -> list:
    """Before the ``number``-th ``operation`` request leaves ``s3``, record ``observe()`` then run ``fault()``
    (once). Returns the list the observation lands in."""
    seen: list = []
    calls = {"n": 0}

    def hook(**_: Any) -> None:
        calls["n"] += 1
        if calls["n"] == number:
            seen.append(observe())
            fault()

    s3.meta.events.register(f"before-send.s3.{operation}", hook)
    return seen


def restart_empty(moto: ServerProcess) -> Any:
    moto.start()
    s3 = s3_client(moto.url)
    create_bucket(s3)
    assert list_keys(s3, BUCKET, "") == []  # moto kept nothing: the rerun starts from scratch
    return s3


def archive(s3: Any, folder: Path) -> list[str]:
    """Upload a folder's CSVs as a run archive (the source of publish_s3_objects); returns their keys."""
    keys = []
    for path in sorted(folder.glob("*.csv")):
        s3.upload_file(str(path), BUCKET, ARCHIVE + path.name)
        keys.append(ARCHIVE + path.name)
    return keys


def publish(how: str, s3: Any, folder: Path) -> Any:
    if how == "stage_folder":
        return stage_folder(s3, local_dir=folder, bucket=BUCKET, prefix=DESTINATION)
    keys = [ARCHIVE + path.name for path in sorted(folder.glob("*.csv"))]
    return publish_s3_objects(s3, source_bucket=BUCKET, source_keys=keys, bucket=BUCKET, prefix=DESTINATION)


def test_s3_killed_mid_upload_publishes_nothing_and_a_rerun_matches_a_clean_run(
    moto_process: ServerProcess, tmp_path: Path
) -> None:
    s3 = s3_client(moto_process.url)
    observer = s3_client(moto_process.url)
    create_bucket(s3)
    earlier = write_parts(tmp_path / "earlier", "a")
    stage_folder(s3, local_dir=earlier, bucket=BUCKET, prefix=DESTINATION)
    assert etags(s3, DESTINATION) == md5s(earlier)
    current = write_parts(tmp_path / "current", "b")

    seen = at_call(s3, "PutObject", 2, moto_process.kill, lambda: etags(observer, DESTINATION))
    with pytest.raises(StagingError, match=r"uploading part-0001\.csv .* nothing was published at s3://pulla-faults/"):
        stage_folder(s3, local_dir=current, bucket=BUCKET, prefix=DESTINATION)
    # When S3 died, the folder still held the earlier run's complete set and nothing of this run.
    assert seen == [md5s(earlier)]

    s3 = restart_empty(moto_process)
    stage_folder(s3, local_dir=current, bucket=BUCKET, prefix=DESTINATION)
    stage_folder(s3, local_dir=current, bucket=BUCKET, prefix="clean/")
    assert etags(s3, DESTINATION) == etags(s3, "clean/") == md5s(current)
    assert list_keys(s3, BUCKET, "_staging/") == []


def test_s3_killed_while_checking_the_archive_publishes_nothing(moto_process: ServerProcess, tmp_path: Path) -> None:
    s3 = s3_client(moto_process.url)
    observer = s3_client(moto_process.url)
    create_bucket(s3)
    current = write_parts(tmp_path / "current", "b")
    archive(s3, current)

    seen = at_call(s3, "HeadObject", 2, moto_process.kill, lambda: etags(observer, DESTINATION))
    with pytest.raises(StagingError, match=r"source object s3://pulla-faults/runs/20261127/part-0001\.csv .* nothing"):
        publish("publish_s3_objects", s3, current)
    assert seen == [{}]

    s3 = restart_empty(moto_process)
    archive(s3, current)
    publish("publish_s3_objects", s3, current)
    assert etags(s3, DESTINATION) == md5s(current)


@pytest.mark.parametrize("how", ["stage_folder", "publish_s3_objects"])
def test_s3_killed_mid_copy_names_what_may_remain_and_a_rerun_publishes_the_same_bytes(
    moto_process: ServerProcess, tmp_path: Path, how: str
) -> None:
    s3 = s3_client(moto_process.url)
    observer = s3_client(moto_process.url)
    create_bucket(s3)
    current = write_parts(tmp_path / "current", "b")
    if how == "publish_s3_objects":
        archive(s3, current)

    seen = at_call(s3, "CopyObject", 2, moto_process.kill, lambda: sorted(etags(observer, DESTINATION)))
    # S3 is gone, so the copy already made cannot be taken back: the error says which object may remain.
    with pytest.raises(
        StagingError,
        match=r"copying part-0001\.csv into s3://pulla-faults/import/interactions/20261127/ failed .* removing the 1 "
        r"object\(s\) .* failed too .* may hold a partial set \(part-0000\.csv\); do not import it",
    ):
        publish(how, s3, current)
    assert seen == [["part-0000.csv"]]

    s3 = restart_empty(moto_process)
    if how == "publish_s3_objects":
        archive(s3, current)
    publish(how, s3, current)
    assert etags(s3, DESTINATION) == md5s(current)


@pytest.mark.parametrize("how", ["stage_folder", "publish_s3_objects"])
def test_connection_dropped_mid_copy_rolls_back_to_the_earlier_set(
    moto_process: ServerProcess, tmp_path: Path, how: str
) -> None:
    """S3 stays up but this client's connection drops from the third copy on: the two new copies are removed, so
    the folder holds exactly the earlier run's files, and a rerun then publishes the new set whole."""
    s3 = s3_client(moto_process.url)
    create_bucket(s3)
    earlier = write_parts(tmp_path / "earlier", "a", count=2)
    stage_folder(s3, local_dir=earlier, bucket=BUCKET, prefix=DESTINATION)
    current = write_parts(tmp_path / "current", "b", count=4)
    # The new set's first two names are the earlier run's (replaced in place, same data interval); the rest are new.
    for name in ("part-0000.csv", "part-0001.csv"):
        (current / name).write_bytes((earlier / name).read_bytes())
    if how == "publish_s3_objects":
        archive(s3, current)

    calls = {"n": 0}

    def drop(request: Any, **_: Any) -> None:
        calls["n"] += 1
        if calls["n"] >= 4:  # the 4th copy request and every retry of it
            raise ConnectionClosedError(endpoint_url=request.url)

    s3.meta.events.register("before-send.s3.CopyObject", drop)
    with pytest.raises(StagingError, match=r"copying part-0003\.csv .* the 1 new one\(s\) were removed again"):
        publish(how, s3, current)
    s3.meta.events.unregister("before-send.s3.CopyObject", drop)
    assert etags(s3, DESTINATION) == md5s(earlier)

    publish(how, s3, current)
    assert etags(s3, DESTINATION) == md5s(current)
