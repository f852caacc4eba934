"""JSON documents on S3 (the run summary, setup/resources.json) and the encryption arguments every write takes."""

from __future__ import annotations

import json
from typing import Any

from pulla_personalize.pipeline_config import PipelineConfig


def s3_uri(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"


def sse_args(config: PipelineConfig) -> dict[str, str]:
    """The server-side encryption arguments of the configured bucket, for put_object and upload ExtraArgs."""
    from personalize_provider.staging import sse_extra_args

    return sse_extra_args(config.s3.server_side_encryption, config.s3.kms_key_id)


def read_json_object(s3_client: Any, bucket: str, key: str) -> Any:
    body = s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()
    return json.loads(body)


def write_json_object(s3_client: Any, bucket: str, key: str, value: Any, extra_args: dict[str, str]) -> str:
    body = (json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True) + "\n").encode()
    s3_client.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json", **extra_args)
    return s3_uri(bucket, key)
