"""What the DAGs that run batch jobs share (the CRM picks, the gate's evaluation, the launch audiences): job names
that follow the data, the live solution version, and reading a job's output back from S3.

A batch job's name is unique in the account and can never be reused, so each is named after what it computes
(its version and a fingerprint of its input): a rerun with the same data adopts the job, new data gets a new one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from pulla_airflow.failures import PermanentFailure
from pulla_airflow.resources import lookup
from pulla_personalize.windows import NAME_MAX_LENGTH


def content_fingerprint(*parts: bytes | str, length: int = 8) -> str:
    """``length`` hex digits naming exactly these parts: job names and folders follow the data they were made from."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode() if isinstance(part, str) else part)
        digest.update(b"\0")
    return digest.hexdigest()[:length]


def version_id(solution_version_arn: str) -> str:
    """The short id ending a solution version's ARN (``.../solution/pulla-user-personalization/1a2b3c4d``)."""
    return solution_version_arn.rstrip("/").rsplit("/", 1)[-1]


#: The longest name a job may be given: the operator names a retry after a CREATE FAILED job ``<name>-r2``.
JOB_NAME_MAX_LENGTH = NAME_MAX_LENGTH - 3


def job_name(*parts: str) -> str:
    """A batch job's name from its parts; one that leaves no room for ``-rN`` in 63 characters is a bug."""
    name = "-".join(parts)
    if len(name) > JOB_NAME_MAX_LENGTH:
        raise ValueError(f"batch job name {name!r} is longer than {JOB_NAME_MAX_LENGTH} characters")
    return name


def live_solution_version(hook: Any, campaign_arn: str | None, campaign_name: str) -> str | None:
    """The solution version the campaign serves, or None when there is no campaign or it is not ACTIVE."""
    if not campaign_arn:
        return None
    campaign = lookup(f"campaign {campaign_name!r}", lambda: hook.describe_campaign(campaign_arn=campaign_arn))
    if campaign is None or campaign.get("status") != "ACTIVE":
        return None
    return campaign.get("solutionVersionArn")


def output_file_uri(job_output_s3_path: str, job_input_s3_path: str) -> str:
    """``<output path>/<input file name>.out``, where a batch job writes the output of its input file."""
    name = job_input_s3_path.rstrip("/").rsplit("/", 1)[-1]
    return job_output_s3_path.rstrip("/") + "/" + name + ".out"


def split_s3_uri(uri: str) -> tuple[str, str]:
    """(bucket, key) of ``s3://bucket/key``."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not uri.startswith("s3://") or not bucket or not key:
        raise ValueError(f"{uri!r} is not an s3://bucket/key URI")
    return bucket, key


def read_s3_uri(s3_client: Any, uri: str) -> bytes:
    bucket, key = split_s3_uri(uri)
    return s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()


def read_job_output(s3_client: Any, uri: str, job: Mapping[str, Any]) -> str:
    """The text of a finished job's output file; a missing or undecodable file fails without retry, naming it."""
    try:
        body = read_s3_uri(s3_client, uri)
    except s3_client.exceptions.NoSuchKey:
        raise PermanentFailure(
            f"{uri} does not exist, although batch job {job.get('job_name')} ended {job.get('status', 'ACTIVE')}"
        ) from None
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise PermanentFailure(f"{uri}: not UTF-8 text ({error})") from None
