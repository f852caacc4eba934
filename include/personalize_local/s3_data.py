"""A job's S3 files: reading its data location (one object, or those under a folder), writing its output files.

A location ending in ``/`` (or naming only a bucket) is a folder: an import job reads the CSV files under it, a data
deletion job every file under it and its subfolders. A missing object or bucket, or one the endpoint cannot read,
fails the job with the location in the reason, as the service words it. Batch jobs write their output files
with :meth:`S3Reader.write`; a location the endpoint cannot write fails the job in the same words.
"""

from __future__ import annotations

import re
import threading
from typing import TYPE_CHECKING, Any

from personalize_local.lifecycle import WorkFailed

if TYPE_CHECKING:
    from personalize_local.service import EndpointSettings


class S3Reader:
    """Reads S3 objects with one boto3 client, made on first use (boto3 clients are thread-safe)."""

    def __init__(self, settings: EndpointSettings) -> None:
        self.settings = settings
        self._client = None
        self._lock = threading.Lock()

    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                import boto3

                session = boto3.session.Session()
                kwargs: dict[str, Any] = {"endpoint_url": self.settings.s3_endpoint}
                if session.get_credentials() is None:
                    # A local S3 accepts any key; real S3 gets the usual credential chain.
                    kwargs.update(aws_access_key_id="local", aws_secret_access_key="local")
                kwargs["region_name"] = session.region_name or self.settings.default_region
                self._client = session.client("s3", **kwargs)
            return self._client

    def read(
        self, location: str, *, suffix: str | None = None, max_total_bytes: int | None = None
    ) -> list[tuple[str, str]]:
        """[(s3 uri, text)] of one object, or of every object under a folder location whose key ends in ``suffix``.

        ``max_total_bytes`` fails the job before reading past that many bytes in all.
        """
        from botocore.exceptions import BotoCoreError, ClientError

        match = re.fullmatch(r"s3://([^/]+)/?(.*)", location)
        if not match:
            raise WorkFailed(f"Only s3:// data locations are supported locally, got {location}")
        bucket, key = match.groups()
        s3 = self.client()
        try:
            if key and not key.endswith("/"):
                keys = [key]
            else:
                keys = []
                for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key):
                    keys.extend(
                        o["Key"]
                        for o in page.get("Contents", [])
                        if not o["Key"].endswith("/")  # a folder marker, not a file
                        and (suffix is None or o["Key"].lower().endswith(suffix))
                    )
                if not keys:
                    kind = f"{suffix.lstrip('.').upper()} files" if suffix else "files"
                    raise WorkFailed(f"No {kind} found at {location}")
            sources, total = [], 0
            for object_key in sorted(keys):
                uri = f"s3://{bucket}/{object_key}"
                response = s3.get_object(Bucket=bucket, Key=object_key)
                total += response.get("ContentLength", 0)
                if max_total_bytes is not None and total > max_total_bytes:
                    response["Body"].close()
                    raise WorkFailed(
                        f"The files at {location} hold more than {max_total_bytes:,} bytes, the most a job reads"
                    )
                body = response["Body"].read()
                try:
                    sources.append((uri, body.decode("utf-8")))
                except UnicodeDecodeError as exc:
                    line = body[: exc.start].count(b"\n") + 1
                    raise WorkFailed(f"{uri} line {line}: the file is not valid UTF-8") from exc
            return sources
        except (ClientError, BotoCoreError) as exc:
            raise WorkFailed(
                f"Insufficient privileges for accessing data in Amazon S3 or data not found at {location}: {exc}"
            ) from exc

    def write(self, uri: str, text: str) -> None:
        """Put one object (UTF-8 text) at ``s3://bucket/key``; WorkFailed naming it if it cannot be written."""
        from botocore.exceptions import BotoCoreError, ClientError

        match = re.fullmatch(r"s3://([^/]+)/(.+)", uri)
        if not match:
            raise WorkFailed(f"Only s3:// output locations are supported locally, got {uri}")
        bucket, key = match.groups()
        try:
            self.client().put_object(Bucket=bucket, Key=key, Body=text.encode("utf-8"))
        except (ClientError, BotoCoreError) as exc:
            raise WorkFailed(f"Insufficient privileges for writing data to Amazon S3 at {uri}: {exc}") from exc
