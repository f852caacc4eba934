"""Stage a local folder of CSVs on S3 so that the import location only ever shows a complete set of files.

A Personalize import of ``s3://bucket/prefix/`` reads every object in that folder, so a half-finished upload
must never be visible there. The folder is therefore uploaded to a private staging prefix outside the
destination first; every staged object is checked against its local size; only then are the objects copied
into place (server-side copies), stale files from an earlier run are removed, and the staging objects are
deleted. A failure while uploading leaves the destination untouched; a failure while copying removes the
copies this run made, and when S3 is gone altogether (so even that fails) the error lists the objects that may
remain, to be replaced by a rerun. Every failure is a :class:`StagingError` naming the file or object.

Works on any boto3 S3 client (real AWS, moto, a local S3), so it is tested without Airflow.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SSE_ALGORITHMS = ("AES256", "aws:kms", "aws:kms:dsse")


class StagingError(RuntimeError):
    """Staging failed; the message names the file or object and the S3 error."""


@dataclass(frozen=True)
class StagedFolder:
    bucket: str
    prefix: str
    keys: tuple[str, ...]
    removed_stale_keys: tuple[str, ...]

    @property
    def uri(self) -> str:
        """The folder URI to give CreateDatasetImportJob's dataLocation."""
        return f"s3://{self.bucket}/{self.prefix}"


def sse_extra_args(sse: str | None, kms_key_id: str | None = None) -> dict[str, str]:
    """ExtraArgs for upload_file/copy: server-side encryption, or nothing to use the bucket's default."""
    if sse is None:
        if kms_key_id:
            raise ValueError("sse_kms_key_id needs sse='aws:kms' (or 'aws:kms:dsse')")
        return {}
    if sse not in SSE_ALGORITHMS:
        raise ValueError(f"sse must be one of {', '.join(SSE_ALGORITHMS)} or None, got {sse!r}")
    if kms_key_id and not sse.startswith("aws:kms"):
        raise ValueError(f"sse_kms_key_id is only valid with sse='aws:kms', not {sse!r}")
    args = {"ServerSideEncryption": sse}
    if kms_key_id:
        args["SSEKMSKeyId"] = kms_key_id
    return args


def _folder_prefix(prefix: str, label: str) -> str:
    cleaned = prefix.strip("/")
    if not cleaned:
        raise ValueError(f"{label} must not be empty or the bucket root")
    return cleaned + "/"


def _error_text(error: Exception) -> str:
    response = getattr(error, "response", None)
    if isinstance(response, dict) and isinstance(response.get("Error"), dict):
        detail = response["Error"]
        return f"{detail.get('Code', type(error).__name__)}: {detail.get('Message', '')}".rstrip(": ")
    return f"{type(error).__name__}: {error}"


def list_keys(s3_client: Any, bucket: str, prefix: str) -> list[str]:
    keys: list[str] = []
    for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(item["Key"] for item in page.get("Contents", []))
    return keys


def delete_keys(s3_client: Any, bucket: str, keys: list[str]) -> None:
    # DeleteObjects takes at most 1000 keys a call.
    for start in range(0, len(keys), 1000):
        batch = keys[start : start + 1000]
        s3_client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True})


def local_files(local_dir: Path, pattern: str) -> list[Path]:
    """The regular files in ``local_dir`` matching ``pattern``, sorted by name; an error if there are none."""
    folder = Path(local_dir)
    if not folder.is_dir():
        raise StagingError(f"local folder {folder} does not exist or is not a folder")
    files = sorted(p for p in folder.glob(pattern) if p.is_file())
    if not files:
        raise StagingError(f"local folder {folder} has no files matching {pattern!r}; nothing to stage")
    return files


def stage_folder(
    s3_client: Any,
    *,
    local_dir: Path | str,
    bucket: str,
    prefix: str,
    staging_prefix: str = "_staging/",
    pattern: str = "*.csv",
    sse: str | None = None,
    sse_kms_key_id: str | None = None,
    delete_stale: bool = True,
) -> StagedFolder:
    """Publish the matching files of ``local_dir`` at ``s3://bucket/prefix/`` all at once, or not at all.

    :param staging_prefix: where files wait until all of them are uploaded; must not lie inside ``prefix``
        (an import of the folder would read them).
    :param pattern: which files of ``local_dir`` to publish; ``**/*`` publishes the whole tree, each file at its
        path below ``local_dir``.
    :param delete_stale: remove objects in ``prefix`` that this run did not write, so the folder holds exactly
        this run's files (a rerun that produces fewer part files must not import the old extras): the objects
        directly in ``prefix``, or every object below it when the published files include subfolders.
    """
    destination = _folder_prefix(prefix, "prefix")
    staging_root = _folder_prefix(staging_prefix, "staging_prefix")
    if staging_root.startswith(destination) or destination.startswith(staging_root):
        raise ValueError(
            f"staging_prefix {staging_root!r} and prefix {destination!r} overlap; the import would read staged files"
        )
    extra_args = sse_extra_args(sse, sse_kms_key_id)
    files = local_files(Path(local_dir), pattern)
    # A file keeps its path below local_dir ("rejects/members.csv" with pattern "**/*"), so folders survive.
    names = {path: path.relative_to(local_dir).as_posix() for path in files}
    staging_dir = f"{staging_root}{uuid.uuid4().hex}/"
    staged: dict[str, str] = {}  # relative name -> staged key

    try:
        for path in files:
            name = names[path]
            key = staging_dir + name
            try:
                s3_client.upload_file(str(path), bucket, key, ExtraArgs=extra_args or None)
            except Exception as error:
                raise StagingError(
                    f"uploading {name} to s3://{bucket}/{key} failed ({_error_text(error)}); "
                    f"nothing was published at s3://{bucket}/{destination}"
                ) from error
            staged[name] = key
        for path in files:
            try:
                size = s3_client.head_object(Bucket=bucket, Key=staged[names[path]])["ContentLength"]
            except Exception as error:
                raise StagingError(
                    f"checking the staged copy of {names[path]} at s3://{bucket}/{staged[names[path]]} failed "
                    f"({_error_text(error)}); nothing was published at s3://{bucket}/{destination}"
                ) from error
            if size != path.stat().st_size:
                raise StagingError(
                    f"staged copy of {names[path]} has {size} bytes, the local file {path.stat().st_size}; "
                    f"nothing was published at s3://{bucket}/{destination}"
                )
        published = _publish(s3_client, bucket, destination, staged, extra_args, source_bucket=bucket)
        stale = _remove_stale(s3_client, bucket, destination, published) if delete_stale else []
        log.info(
            "Published %d file(s) at s3://%s/%s (%d stale removed)",
            len(published),
            bucket,
            destination,
            len(stale),
        )
        return StagedFolder(bucket, destination, tuple(published), tuple(stale))
    finally:
        if staged:
            try:
                delete_keys(s3_client, bucket, list(staged.values()))
            except Exception as error:  # the publish result stands; leftovers in staging are harmless
                log.warning(
                    "Could not delete staged objects under s3://%s/%s: %s",
                    bucket,
                    staging_dir,
                    _error_text(error),
                )


def _remove_stale(s3_client: Any, bucket: str, destination: str, published: list[str]) -> list[str]:
    """Deletes the objects in ``destination`` that this run did not publish (directly in it, or at any depth when
    the run published subfolders); returns their keys."""
    wanted = set(published)
    tree = any("/" in key[len(destination) :] for key in published)
    try:
        stale = [
            key
            for key in list_keys(s3_client, bucket, destination)
            if key not in wanted and (tree or "/" not in key[len(destination) :])
        ]
        delete_keys(s3_client, bucket, stale)
    except Exception as error:
        # This run's files are all in place, but an import of the folder would also read an earlier run's extras.
        raise StagingError(
            f"all {len(published)} file(s) were published at s3://{bucket}/{destination}, but removing the files "
            f"of earlier runs there failed ({_error_text(error)}); do not import the folder before a rerun succeeds"
        ) from error
    return stale


def publish_s3_objects(
    s3_client: Any,
    *,
    source_bucket: str,
    source_keys: list[str],
    bucket: str,
    prefix: str,
    sse: str | None = None,
    sse_kms_key_id: str | None = None,
    delete_stale: bool = True,
) -> StagedFolder:
    """Publish objects that are already on S3 (a run archive) at ``s3://bucket/prefix/``, all at once or not at all.

    The source objects play the part of the staging copies: every one is checked before the first copy, each
    keeps its file name, and a failed copy removes what this call had added.
    """
    destination = _folder_prefix(prefix, "prefix")
    if not source_keys:
        # Publishing nothing would still remove every "stale" object: an empty import folder, not a no-op.
        raise ValueError(f"no source keys given; nothing was published at s3://{bucket}/{destination}")
    extra_args = sse_extra_args(sse, sse_kms_key_id)
    staged: dict[str, str] = {}
    for key in source_keys:
        name = key.rsplit("/", 1)[-1]
        if not name or name in staged:
            raise ValueError(f"source key {key!r} has no file name, or repeats one; nothing was published")
        try:
            s3_client.head_object(Bucket=source_bucket, Key=key)
        except Exception as error:
            raise StagingError(
                f"source object s3://{source_bucket}/{key} cannot be read ({_error_text(error)}); "
                f"nothing was published at s3://{bucket}/{destination}"
            ) from error
        staged[name] = key
    published = _publish(s3_client, bucket, destination, staged, extra_args, source_bucket=source_bucket)
    stale = _remove_stale(s3_client, bucket, destination, published) if delete_stale else []
    log.info("Published %d object(s) at s3://%s/%s (%d stale removed)", len(published), bucket, destination, len(stale))
    return StagedFolder(bucket, destination, tuple(published), tuple(stale))


def _publish(
    s3_client: Any,
    bucket: str,
    destination: str,
    staged: dict[str, str],
    extra_args: dict[str, str],
    *,
    source_bucket: str,
) -> list[str]:
    try:
        existing = set(list_keys(s3_client, bucket, destination))
    except Exception as error:
        raise StagingError(
            f"listing s3://{bucket}/{destination} before publishing failed ({_error_text(error)}); "
            f"nothing was published at s3://{bucket}/{destination}"
        ) from error
    copied: list[str] = []
    try:
        for name, staged_key in staged.items():
            key = destination + name
            s3_client.copy({"Bucket": source_bucket, "Key": staged_key}, bucket, key, ExtraArgs=extra_args or None)
            copied.append(key)
    except Exception as error:
        # Roll back the objects this run added; keys that existed before hold an earlier run's bytes for the same
        # data interval (runs are deterministic), so they are left in place.
        added = [k for k in copied if k not in existing]
        failure = f"copying {name} into s3://{bucket}/{destination} failed ({_error_text(error)})"
        if not copied:
            raise StagingError(f"{failure}; nothing was published there") from error
        try:
            delete_keys(s3_client, bucket, added)
        except Exception as rollback_error:
            # S3 itself is gone (a dropped connection, an outage): say which objects may remain, and never let the
            # rollback's error hide what failed first.
            raise StagingError(
                f"{failure}, and removing the {len(added)} object(s) this run had already added failed too "
                f"({_error_text(rollback_error)}): s3://{bucket}/{destination} may hold a partial set "
                f"({', '.join(k[len(destination) :] for k in added)}); do not import it before a rerun succeeds"
            ) from error
        raise StagingError(
            f"{failure}; of the {len(copied)} object(s) already copied by this run, the {len(added)} new one(s) "
            f"were removed again, so s3://{bucket}/{destination} holds no more than it held before"
        ) from error
    return copied
