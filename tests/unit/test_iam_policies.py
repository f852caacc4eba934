"""The IAM documents in include/iam: valid, consistent with the pipeline config, and exactly as wide as our code.

The worker policy is checked against the AWS calls our code makes, found by reading the code (ast), not against
a hand-kept list: every Personalize operation called on a boto client (directly, through a paginator, through a
waiter in waiters/personalize.json, or by an operation name held in a string for ``getattr``), every S3 client,
transfer and S3Hook method, and the permissions those calls bring along (``personalize:TagResource`` when tags
are passed, ``iam:PassRole`` when a roleArn is, KMS for objects under SSE-KMS). A new call that the policy does
not allow fails here, and so does a permission that no code needs any more.

Whether a request is allowed is decided by a small IAM evaluator (wildcards, Allow and Deny, principals and the
condition operators the files use). It is strict on purpose: an element or operator it does not know fails the
test instead of being ignored.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import botocore.session
import pytest
import yaml
from botocore import xform_name

from personalize_provider.naming import with_attempt
from pulla_personalize.deletions import DeletionJobName
from pulla_personalize.windows import ImportJobName

REPO_ROOT = Path(__file__).resolve().parents[2]
IAM_DIR = REPO_ROOT / "include" / "iam"
CONFIG_FILE = REPO_ROOT / "include" / "config" / "personalize.yaml"
WAITERS_FILE = REPO_ROOT / "plugins" / "personalize_provider" / "waiters" / "personalize.json"

# Our code: what runs on an Airflow worker, package by package (tests/unit/test_package_lines.py keeps the lines).
# include/personalize_local is the local stand-in for Personalize, not a client of it, and include/pulla_dev is
# development tooling that only talks to the local stand-ins: a worker never runs either.
SCANNED_DIRS = ("plugins/personalize_provider", "include/pulla_personalize", "include/pulla_airflow", "dags")
# String constants under these keywords name Airflow objects, not API operations.
NAME_KEYWORDS = frozenset({"task_id", "group_id", "dag_id", "trigger_rule"})

TRUST_POLICY = "personalize-service-role-trust-policy.json"
SERVICE_ROLE_S3_POLICY = "personalize-service-role-s3-policy.json"
BUCKET_POLICY = "s3-bucket-policy.json"
KMS_STATEMENTS = "kms-key-policy-statements.json"
WORKER_POLICY = "airflow-worker-policy.json"
IDENTITY_POLICIES = (SERVICE_ROLE_S3_POLICY, WORKER_POLICY)
RESOURCE_POLICIES = (TRUST_POLICY, BUCKET_POLICY, KMS_STATEMENTS)
ALL_POLICIES = (*RESOURCE_POLICIES, *IDENTITY_POLICIES)

PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")
KNOWN_PLACEHOLDERS = frozenset({"ACCOUNT_ID", "REGION", "BUCKET", "KMS_KEY_ARN"})
TEST_ACCOUNT = "111122223333"
TEST_REGION = "ap-northeast-2"
TEST_KMS_KEY_ARN = f"arn:aws:kms:{TEST_REGION}:{TEST_ACCOUNT}:key/0f0f0f0f-1111-2222-3333-444444444444"
PERSONALIZE_PRINCIPAL = ("Service", "personalize.amazonaws.com")
PERSONALIZE_SERVICES = ("personalize", "personalize-runtime", "personalize-events")

# IAM actions behind each S3 client, transfer-manager and Airflow S3Hook method. HeadObject is authorized as
# s3:GetObject, ListObjectsV2 as s3:ListBucket, DeleteObjects as s3:DeleteObject per key; the managed transfers
# (upload_file, copy, ...) switch to multipart above 8 MB and abort the upload when a part fails.
_WRITE = frozenset({"s3:PutObject", "s3:AbortMultipartUpload"})
S3_METHOD_ACTIONS: dict[str, frozenset[str]] = {
    "put_object": frozenset({"s3:PutObject"}),
    "upload_file": _WRITE,
    "upload_fileobj": _WRITE,
    "copy": _WRITE | {"s3:GetObject"},
    "copy_object": frozenset({"s3:GetObject", "s3:PutObject"}),
    "get_object": frozenset({"s3:GetObject"}),
    "head_object": frozenset({"s3:GetObject"}),
    "download_file": frozenset({"s3:GetObject"}),
    "download_fileobj": frozenset({"s3:GetObject"}),
    "list_objects_v2": frozenset({"s3:ListBucket"}),
    "list_objects": frozenset({"s3:ListBucket"}),
    "head_bucket": frozenset({"s3:ListBucket"}),
    "delete_objects": frozenset({"s3:DeleteObject"}),
    "delete_object": frozenset({"s3:DeleteObject"}),
    # The setup DAG's expiry of the run data: it reads the bucket's lifecycle rules and writes them back with ours.
    "get_bucket_lifecycle_configuration": frozenset({"s3:GetLifecycleConfiguration"}),
    "put_bucket_lifecycle_configuration": frozenset({"s3:PutLifecycleConfiguration"}),
    # airflow.providers.amazon.aws.hooks.s3.S3Hook
    "load_file": _WRITE,
    "load_file_obj": _WRITE,
    "load_bytes": _WRITE,
    "load_string": _WRITE,
    "read_key": frozenset({"s3:GetObject"}),
    "get_key": frozenset({"s3:GetObject"}),
    "check_for_key": frozenset({"s3:GetObject"}),
    "list_keys": frozenset({"s3:ListBucket"}),
    "list_prefixes": frozenset({"s3:ListBucket"}),
    "check_for_prefix": frozenset({"s3:ListBucket"}),
}
# Actions on the bucket itself, not on its objects. ListBucket is asked with the prefix listed (s3:prefix).
S3_BUCKET_ACTIONS = frozenset({"s3:ListBucket", "s3:GetLifecycleConfiguration", "s3:PutLifecycleConfiguration"})
# With SSE-KMS (the bucket default or our ExtraArgs) S3 uses the key on the caller's behalf: writes need a data
# key, and reads and multipart completions need to decrypt one.
KMS_FOR_S3 = {
    "s3:PutObject": frozenset({"kms:GenerateDataKey", "kms:Decrypt"}),
    "s3:GetObject": frozenset({"kms:Decrypt"}),
}

# Service Authorization Reference, Amazon Personalize: which resources each action is authorized on. The noun of
# an operation (its name without the verb) names its resource; Create calls are also authorized on the parent
# they create into. Actions with no resource type only accept Resource "*": every List* except
# ListTagsForResource, and PutEvents / PutActionInteractions (the tracking id is not an ARN).
VERBS = ("Create", "Describe", "Update", "Delete", "List", "Get", "Put", "Start", "Stop")
NOUN_RESOURCE = {
    "DatasetGroup": "dataset_group",
    "Schema": "schema",
    "Dataset": "dataset",
    "Items": "dataset",
    "Users": "dataset",
    "DatasetImportJob": "dataset_import_job",
    "DataDeletionJob": "data_deletion_job",
    "BatchInferenceJob": "batch_inference_job",
    "BatchSegmentJob": "batch_segment_job",
    "Solution": "solution",
    "SolutionVersion": "solution_version",
    "SolutionMetrics": "solution_version",
    "Campaign": "campaign",
    "Recommendations": "campaign",
    "PersonalizedRanking": "campaign",
    "EventTracker": "event_tracker",
    "Filter": "filter",
}
PARENT_RESOURCE = {
    "CreateDataset": "dataset_group",
    "CreateDatasetImportJob": "dataset",
    "CreateDataDeletionJob": "dataset_group",
    # The version it runs is authorized as a solution resource; CreateBatchSegmentJob lists no parent in the SAR.
    "CreateBatchInferenceJob": "solution_version",
    "CreateSolution": "dataset_group",
    "CreateCampaign": "solution_version",
    "CreateEventTracker": "dataset_group",
    "CreateFilter": "dataset_group",
}
RESOURCE_STAR_ONLY = frozenset({"PutEvents", "PutActionInteractions"})
# Event tracker ARNs end in a generated id (event-tracker/8c1d2e3f), not the name, so they cannot be scoped to
# pulla*. The only Personalize resource pattern allowed without the pulla prefix, and only for these actions.
EVENT_TRACKER_PATTERN = "arn:aws:personalize:${REGION}:${ACCOUNT_ID}:event-tracker/*"
EVENT_TRACKER_ACTIONS = frozenset(
    {"personalize:CreateEventTracker", "personalize:DescribeEventTracker", "personalize:TagResource"}
)
PULLA_RESOURCE_PATTERN = re.compile(
    r"arn:aws:personalize:\$\{REGION\}:\$\{ACCOUNT_ID\}:"
    r"(dataset-group|schema|dataset|dataset-import-job|data-deletion-job|batch-inference-job|batch-segment-job"
    r"|solution|campaign|filter)/pulla\*"
)


def needs_resource_star(operation: str) -> bool:
    return (operation.startswith("List") and operation != "ListTagsForResource") or operation in RESOURCE_STAR_ONLY


# --- the documents --------------------------------------------------------------------------------------------------


def raw_text(name: str) -> str:
    return (IAM_DIR / name).read_text(encoding="utf-8")


def fill_placeholders(text: str, values: Mapping[str, str]) -> str:
    """What ``envsubst`` makes of a file: every ``${NAME}`` replaced by its value."""
    return PLACEHOLDER.sub(lambda match: values[match.group(1)], text)


@cache
def pipeline_config() -> dict[str, Any]:
    return yaml.safe_load(CONFIG_FILE.read_text(encoding="utf-8"))


def role_name() -> str:
    return pipeline_config()["personalize"]["role_arn"].rsplit("/", 1)[-1]


def placeholder_values() -> dict[str, str]:
    return {
        "ACCOUNT_ID": TEST_ACCOUNT,
        "REGION": TEST_REGION,
        "BUCKET": pipeline_config()["s3"]["bucket"],
        "KMS_KEY_ARN": TEST_KMS_KEY_ARN,
    }


def template(name: str) -> dict[str, Any]:
    """The document as committed, placeholders still in it."""
    return json.loads(raw_text(name))


def filled(name: str) -> dict[str, Any]:
    """The document as applied to an account: placeholders filled with the test values."""
    return json.loads(fill_placeholders(raw_text(name), placeholder_values()))


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statements(policy: Mapping[str, Any]) -> list[dict[str, Any]]:
    return as_list(policy["Statement"])


# --- a small IAM evaluator ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    action: str
    resource: str
    context: tuple[tuple[str, str], ...] = ()
    principal: tuple[str, str] | None = None

    def __str__(self) -> str:
        extra = f" with {dict(self.context)}" if self.context else ""
        by = f" by {self.principal[1]}" if self.principal else ""
        return f"{self.action} on {self.resource}{by}{extra}"


def request(action: str, resource: str, principal: tuple[str, str] | None = None, **context: str) -> Request:
    # Condition keys contain ':' which keyword arguments cannot; '__' stands for it.
    return Request(action, resource, tuple(sorted((k.replace("__", ":"), v) for k, v in context.items())), principal)


@cache
def glob_regex(pattern: str, ignore_case: bool = False) -> re.Pattern[str]:
    """IAM wildcards: ``*`` any run of characters (also across '/' and ':'), ``?`` one character."""
    body = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.compile(body, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def glob_match(pattern: str, value: str, ignore_case: bool = False) -> bool:
    return glob_regex(pattern, ignore_case).fullmatch(value) is not None


CONDITION_OPERATORS = {
    "StringEquals": lambda pattern, value: value == pattern,
    "StringLike": glob_match,
    "ArnEquals": lambda pattern, value: value == pattern,
    "ArnLike": glob_match,
    "Bool": lambda pattern, value: value.lower() == str(pattern).lower(),
}
STATEMENT_KEYS = frozenset({"Sid", "Effect", "Principal", "Action", "Resource", "Condition"})


def conditions_hold(condition: Mapping[str, Mapping[str, Any]], context: Mapping[str, str]) -> bool:
    for operator, tests in condition.items():
        matches = CONDITION_OPERATORS[operator]
        for key, patterns in tests.items():
            # A key absent from the request fails the test (no ...IfExists operator is used).
            if key not in context or not any(matches(str(p), context[key]) for p in as_list(patterns)):
                return False
    return True


def principal_matches(statement: Mapping[str, Any], principal: tuple[str, str] | None) -> bool:
    if "Principal" not in statement:
        return True  # an identity policy applies to whoever it is attached to
    if statement["Principal"] == "*":
        return True
    if principal is None:
        return False
    kind, who = principal
    return any(glob_match(p, who) for p in as_list(statement["Principal"].get(kind, [])))


def statement_matches(statement: Mapping[str, Any], req: Request) -> bool:
    unknown = (set(statement) - STATEMENT_KEYS) | (set(statement.get("Condition", {})) - set(CONDITION_OPERATORS))
    if unknown:
        raise AssertionError(f"statement {statement.get('Sid')!r} uses {sorted(unknown)}, unknown to this evaluator")
    return (
        any(glob_match(a, req.action, ignore_case=True) for a in as_list(statement["Action"]))
        and any(glob_match(r, req.resource) for r in as_list(statement.get("Resource", "*")))
        and principal_matches(statement, req.principal)
        and conditions_hold(statement.get("Condition", {}), dict(req.context))
    )


def is_allowed(policy: Mapping[str, Any], req: Request) -> bool:
    """An explicit Deny wins; otherwise some Allow must match."""
    matching = [s["Effect"] for s in statements(policy) if statement_matches(s, req)]
    return "Allow" in matching and "Deny" not in matching


def test_evaluator_follows_iam_semantics() -> None:
    policy = {
        "Statement": [
            {"Effect": "Allow", "Action": "s3:Get*", "Resource": "arn:aws:s3:::b/p/*"},
            {"Effect": "Deny", "Action": "s3:*", "Resource": "arn:aws:s3:::b/p/secret*"},
            {
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": "arn:aws:s3:::b",
                "Condition": {"StringLike": {"s3:prefix": ["p/*"]}},
            },
        ]
    }
    assert is_allowed(policy, request("S3:GETOBJECT", "arn:aws:s3:::b/p/x/y.csv"))  # actions ignore case
    assert not is_allowed(policy, request("s3:GetObject", "arn:aws:s3:::B/p/x.csv"))  # resources do not
    assert not is_allowed(policy, request("s3:GetObject", "arn:aws:s3:::b/p/secret.csv"))  # Deny wins
    assert not is_allowed(policy, request("s3:PutObject", "arn:aws:s3:::b/p/x.csv"))
    assert is_allowed(policy, request("s3:ListBucket", "arn:aws:s3:::b", s3__prefix="p/x/"))
    assert not is_allowed(policy, request("s3:ListBucket", "arn:aws:s3:::b", s3__prefix="q/"))
    assert not is_allowed(policy, request("s3:ListBucket", "arn:aws:s3:::b"))  # key absent: condition fails
    with pytest.raises(AssertionError, match="NumericLessThan"):
        is_allowed({"Statement": [{**policy["Statement"][2], "Condition": {"NumericLessThan": {}}}]}, request("a", "b"))


# --- what our code calls --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiCall:
    """One AWS call found in the code. ``operation`` is the botocore name (PascalCase) for Personalize, the
    method name for S3. ``passed`` are the argument names given at the call site (including nested ones, as in
    ``conn.create_x(**drop_none(tags=tags))``)."""

    service: str
    operation: str
    where: str
    passed: frozenset[str] = field(default=frozenset())


@cache
def service_model(service: str) -> Any:
    return botocore.session.get_session().get_service_model(service)


@cache
def operations_by_method(service: str) -> dict[str, str]:
    """botocore's operation names keyed by their client method name (``xform_name``)."""
    return {xform_name(name): name for name in service_model(service).operation_names}


@cache
def personalize_operation_service() -> dict[str, str]:
    """Client method name -> the Personalize service (control plane, runtime or events) that has it."""
    owners: dict[str, str] = {}
    for service in PERSONALIZE_SERVICES:
        for method in operations_by_method(service):
            assert method not in owners, f"{method} exists in both {owners[method]} and {service}"
            owners[method] = service
    return owners


def _passed_names(call: ast.Call) -> frozenset[str]:
    names: set[str] = set()
    for node in ast.walk(call):
        if isinstance(node, ast.keyword) and node.arg:
            names.add(node.arg)
        elif isinstance(node, ast.Dict):
            names.update(k.value for k in node.keys if isinstance(k, ast.Constant) and isinstance(k.value, str))
    return frozenset(names)


def _first_string(call: ast.Call, keyword: str) -> str | None:
    if call.args and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str):
        return call.args[0].value
    for kw in call.keywords:
        if kw.arg == keyword and isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str):
            return kw.value.value
    return None


@cache
def s3_waiter_operations() -> dict[str, str]:
    waiters = botocore.session.get_session().get_waiter_model("s3")
    return {xform_name(name): xform_name(waiters.get_waiter(name).operation) for name in waiters.waiter_names}


def scan_module(path: Path, label: str) -> tuple[list[ApiCall], list[str]]:
    """The AWS calls in one module, and the problems: S3 or waiter names this test cannot map to IAM actions."""
    personalize = personalize_operation_service()
    s3_methods = operations_by_method("s3")
    our_waiters = json.loads(WAITERS_FILE.read_text())["waiters"]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    calls: list[ApiCall] = []
    problems: list[str] = []
    # Operation names passed as arguments are called dynamically: getattr(conn, "describe_x"), a paginator
    # helper's argument, a table of describe methods. Names of Airflow objects (task ids, a branch's return
    # value) are not calls.
    name_arguments = {
        id(argument)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        for argument in (*node.args, *(kw.value for kw in node.keywords if kw.arg not in NAME_KEYWORDS))
    }

    def add(method: str, where: str, passed: frozenset[str] = frozenset()) -> None:
        if method in personalize:
            service = personalize[method]
            calls.append(ApiCall(service, operations_by_method(service)[method], where, passed))
        elif method in S3_METHOD_ACTIONS:
            calls.append(ApiCall("s3", method, where, passed))
        else:
            problems.append(f"{where}: S3 operation {method} has no IAM mapping; add it to S3_METHOD_ACTIONS")

    for node in ast.walk(tree):
        where = f"{label}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if node.value in personalize and id(node) in name_arguments:
                add(node.value, f"{where} (name in a string)")
            continue
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        method = node.func.attr
        if method in ("get_paginator", "can_paginate", "generate_presigned_url"):
            target = _first_string(node, "operation_name" if method != "generate_presigned_url" else "ClientMethod")
            if target is not None and (target in personalize or target in s3_methods):
                add(target, f"{where} ({method})")
        elif method == "get_waiter":
            name = _first_string(node, "waiter_name")
            if name in s3_waiter_operations():
                add(s3_waiter_operations()[name], f"{where} (waiter {name})")
            elif name is not None and name not in our_waiters:
                problems.append(f"{where}: waiter {name!r} is neither ours nor botocore's S3 waiter")
        elif method in personalize:
            add(method, where, _passed_names(node))
        elif method in S3_METHOD_ACTIONS:
            # boto3's managed copy takes (CopySource, Bucket, Key); dict.copy() and DataFrame.copy() take less.
            if method == "copy" and len(node.args) + len(node.keywords) < 3:
                continue
            add(method, where, _passed_names(node))
        elif method in s3_methods:
            add(method, where)
    return calls, problems


def scan_code(root: Path) -> tuple[list[ApiCall], list[str]]:
    """Every AWS call in our code under ``root`` (a checkout), plus the Personalize waiters we ship."""
    calls: list[ApiCall] = []
    problems: list[str] = []
    for folder in SCANNED_DIRS:
        for path in sorted((root / folder).rglob("*.py")):
            found, trouble = scan_module(path, path.relative_to(root).as_posix())
            calls += found
            problems += trouble
    # Every waiter in the file is used (operators and triggers pick them by resource kind at run time).
    for name, waiter in json.loads(WAITERS_FILE.read_text())["waiters"].items():
        operation = waiter["operation"]
        assert operation in service_model("personalize").operation_names, f"waiter {name}: no operation {operation}"
        calls.append(ApiCall("personalize", operation, f"waiters/personalize.json:{name}"))
    return calls, problems


# --- the permissions those calls need -------------------------------------------------------------------------------


def sample_arns() -> dict[str, list[str]]:
    """ARNs of the resources the config names, in the test account: what the worker's calls act on."""
    config = pipeline_config()["personalize"]
    base = f"arn:aws:personalize:{TEST_REGION}:{TEST_ACCOUNT}:"
    group = config["dataset_group"]
    solution = config["solution"]["name"]
    # The pipeline's one job-name scheme, and the operator's name for a later attempt after a FAILED job.
    jobs = [
        str(ImportJobName(name, "20261127", mode, "1a2b3c4d"))
        for name in config["datasets"].values()
        for mode in ("INCREMENTAL", "FULL")
    ]
    deletion_job = str(DeletionJobName(group, "20261126T1800-20261127T1800", "9f8e7d6c"))
    # The CRM batch jobs' names are the pipeline's to choose; they start with pulla like every other name.
    batch_job = "pulla-crm-20261127-1a2b3c4d"
    return {
        "dataset_group": [f"{base}dataset-group/{group}"],
        "schema": [f"{base}schema/{name}" for name in config["schemas"].values()],
        "dataset": [f"{base}dataset/{group}/{kind.upper()}" for kind in config["datasets"]],
        "dataset_import_job": [
            f"{base}dataset-import-job/{name}" for job in jobs for name in (job, with_attempt(job, 2))
        ],
        "data_deletion_job": [
            f"{base}data-deletion-job/{name}" for name in (deletion_job, with_attempt(deletion_job, 2))
        ],
        "batch_inference_job": [
            f"{base}batch-inference-job/{name}" for name in (batch_job, with_attempt(batch_job, 2))
        ],
        "batch_segment_job": [f"{base}batch-segment-job/{name}" for name in (batch_job, with_attempt(batch_job, 2))],
        "solution": [f"{base}solution/{solution}"],
        "solution_version": [f"{base}solution/{solution}/3f9a1c2e"],
        "campaign": [f"{base}campaign/{config['campaign']['name']}"],
        "event_tracker": [f"{base}event-tracker/8c1d2e3f"],
        "filter": [f"{base}filter/{name}" for name in config["filters"]],
    }


def operation_resources(operation: str, *, with_parent: bool = True) -> list[str]:
    """Sample ARNs of what ``operation`` is authorized on: its own resource and, for a create, the parent."""
    noun = next((operation[len(v) :] for v in VERBS if operation.startswith(v)), None)
    if noun not in NOUN_RESOURCE:
        raise AssertionError(f"which resource {operation} acts on is unknown; add its noun to NOUN_RESOURCE (SAR)")
    kinds = [NOUN_RESOURCE[noun]]
    if with_parent and operation in PARENT_RESOURCE:
        kinds.append(PARENT_RESOURCE[operation])
    arns = sample_arns()
    return [arn for kind in kinds for arn in arns[kind]]


# Keys the pipeline writes below the prefix: import data, staging, run archives, the metrics history, the deletion
# jobs' USER_ID files and their manifest, and the CRM batch jobs' input and output.
SAMPLE_KEYS = (
    "import/interactions/dt=2026-11-27/part-0000.csv",
    "deletions/window=20261126T1800-20261127T1800/users.csv",
    "deletions/manifest.json",
    "crm/input/window=20261126T1800-20261127T1800/users.json",
    "crm/output/window=20261126T1800-20261127T1800/users.json.out",
    "_staging/3c1e9f/users.csv",
    "runs/2026-11-27/report.json",
    "metrics/history.json",
)


def s3_object_arns() -> list[str]:
    s3 = pipeline_config()["s3"]
    return [f"arn:aws:s3:::{s3['bucket']}/{s3['prefix']}{key}" for key in SAMPLE_KEYS]


def s3_list_prefixes() -> list[str]:
    prefix = pipeline_config()["s3"]["prefix"]
    return [prefix + key.rsplit("/", 1)[0] + "/" for key in SAMPLE_KEYS]


def required_requests(calls: Iterable[ApiCall]) -> dict[Request, set[str]]:
    """Each request the calls make (action, resource, context), with where in the code it comes from."""
    needed: dict[Request, set[str]] = {}
    region = {"aws__RequestedRegion": TEST_REGION}
    s3 = pipeline_config()["s3"]

    def need(req: Request, where: str) -> None:
        needed.setdefault(req, set()).add(where)

    for call in calls:
        if call.service in PERSONALIZE_SERVICES:
            prefix = service_model(call.service).signing_name  # "personalize" for all three clients
            action = f"{prefix}:{call.operation}"
            if needs_resource_star(call.operation):
                need(request(action, "*", **region), call.where)
                continue
            for arn in operation_resources(call.operation):
                need(request(action, arn, **region), call.where)
            members = service_model(call.service).operation_model(call.operation).input_shape.members
            if "tags" in call.passed and "tags" in members:  # tagging on create is authorized as TagResource
                for arn in operation_resources(call.operation, with_parent=False):
                    need(request(f"{prefix}:TagResource", arn, **region), f"{call.where} (tags)")
            if "roleArn" in call.passed and "roleArn" in members:
                role_arn = f"arn:aws:iam::{TEST_ACCOUNT}:role/{role_name()}"
                need(request("iam:PassRole", role_arn, iam__PassedToService="personalize.amazonaws.com"), call.where)
        else:
            for action in S3_METHOD_ACTIONS[call.operation]:
                if action == "s3:ListBucket":
                    for listed in s3_list_prefixes():
                        need(request(action, f"arn:aws:s3:::{s3['bucket']}", s3__prefix=listed), call.where)
                elif action in S3_BUCKET_ACTIONS:
                    need(request(action, f"arn:aws:s3:::{s3['bucket']}"), call.where)
                else:
                    for arn in s3_object_arns():
                        need(request(action, arn), call.where)
                for kms_action in KMS_FOR_S3.get(action, ()):
                    via_s3 = {"kms__ViaService": f"s3.{TEST_REGION}.amazonaws.com"}
                    need(request(kms_action, TEST_KMS_KEY_ARN, **via_s3), f"{call.where} (SSE-KMS)")
    return needed


@cache
def code_requests() -> tuple[dict[Request, set[str]], tuple[str, ...]]:
    calls, problems = scan_code(REPO_ROOT)
    return required_requests(calls), tuple(problems)


# --- (1) every file is a well-formed policy document ----------------------------------------------------------------


def test_iam_folder_holds_exactly_the_documented_files() -> None:
    assert sorted(p.name for p in IAM_DIR.glob("*.json")) == sorted(ALL_POLICIES)
    readme = (IAM_DIR / "README.md").read_text(encoding="utf-8")
    for name in ALL_POLICIES:
        assert name in readme, f"include/iam/README.md does not explain {name}"
    assert "envsubst" in readme


@pytest.mark.parametrize("name", ALL_POLICIES)
def test_policy_file_is_a_valid_policy_document(name: str) -> None:
    text = raw_text(name)
    unknown = set(PLACEHOLDER.findall(text)) - KNOWN_PLACEHOLDERS
    assert not unknown, f"{name}: placeholders {sorted(unknown)} are not among {sorted(KNOWN_PLACEHOLDERS)}"
    assert "$" not in PLACEHOLDER.sub("", text), f"{name}: a '$' outside a ${{NAME}} placeholder"
    assert not re.search(r"(?<!\d)\d{12}(?!\d)", text), f"{name}: a real-looking account id; use ${{ACCOUNT_ID}}"

    policy = template(name)
    assert policy["Version"] == "2012-10-17", name
    assert set(policy) <= {"Version", "Id", "Statement"}, name
    sids = [s.get("Sid") for s in statements(policy)]
    assert statements(policy), f"{name}: no statements"
    assert len(set(sids)) == len(sids), f"{name}: repeated Sids {sids}"
    for statement in statements(policy):
        sid = statement.get("Sid", "?")
        assert set(statement) <= STATEMENT_KEYS, f"{name} {sid}: unexpected keys {set(statement) - STATEMENT_KEYS}"
        assert statement["Effect"] in ("Allow", "Deny"), f"{name} {sid}"
        actions = as_list(statement["Action"])
        assert actions, f"{name} {sid}: no actions"
        assert all(re.fullmatch(r"[a-z0-9-]+:[A-Za-z0-9*]+", a) for a in actions), f"{name} {sid}: {actions}"
        if name in IDENTITY_POLICIES:
            assert "Principal" not in statement, f"{name} {sid}: an identity policy names no Principal"
            assert as_list(statement["Resource"]), f"{name} {sid}: no Resource"
        else:
            assert statement["Principal"], f"{name} {sid}: a resource policy statement needs a Principal"
        if name == TRUST_POLICY:
            assert "Resource" not in statement, f"{name} {sid}: a trust policy has no Resource"
        elif name in RESOURCE_POLICIES:
            assert as_list(statement["Resource"]), f"{name} {sid}"
        for operator in statement.get("Condition", {}):
            assert operator in CONDITION_OPERATORS, f"{name} {sid}: operator {operator}"

    # What envsubst makes of it is still JSON, with every placeholder gone.
    rendered = fill_placeholders(text, placeholder_values())
    assert "${" not in rendered
    assert json.loads(rendered)["Statement"]


def test_policies_use_the_names_in_the_pipeline_config() -> None:
    config = pipeline_config()
    assert config["s3"]["prefix"] == "personalize/", "the policies hard-code the prefix personalize/"
    role_arn = f"arn:aws:iam::${{ACCOUNT_ID}}:role/{role_name()}"
    passed = {
        r for s in statements(template(WORKER_POLICY)) if s["Action"] == "iam:PassRole" for r in as_list(s["Resource"])
    }
    key_users = {p for s in statements(template(KMS_STATEMENTS)) for p in as_list(s["Principal"].get("AWS", []))}
    assert passed == key_users == {role_arn}, "the role in the config, the worker policy and the key policy differ"
    names = config["personalize"]
    configured = [
        names["dataset_group"],
        *names["schemas"].values(),
        *names["datasets"].values(),
        names["solution"]["name"],
        names["campaign"]["name"],
        names["event_tracker"],
        *names["filters"],
    ]
    outside = [name for name in configured if not name.startswith("pulla")]
    assert not outside, f"the worker policy covers pulla* resources only; rename {outside} or widen it"


# --- (2) the worker policy: everything our code calls, nothing more -------------------------------------------------


def test_code_scan_finds_the_aws_calls() -> None:
    needed, problems = code_requests()
    assert not problems, "\n".join(problems)
    actions = {r.action for r in needed}
    # A scan that found nothing (code moved, a parse gone wrong) must not pass as "nothing to allow".
    assert any(a.startswith("personalize:Create") for a in actions), sorted(actions)
    assert "s3:PutObject" in actions, sorted(actions)
    for folder in SCANNED_DIRS:
        assert any((REPO_ROOT / folder).rglob("*.py")), f"SCANNED_DIRS names {folder}, which holds no code"


def test_worker_policy_allows_every_call_our_code_makes() -> None:
    needed, _ = code_requests()
    worker = filled(WORKER_POLICY)
    missing = [f"{req}  <- {', '.join(sorted(where))}" for req, where in needed.items() if not is_allowed(worker, req)]
    assert not missing, "the worker policy does not allow:\n" + "\n".join(sorted(missing))


def test_worker_policy_grants_no_action_our_code_does_not_call() -> None:
    needed, _ = code_requests()
    called = {req.action for req in needed}
    granted = {a for s in statements(template(WORKER_POLICY)) if s["Effect"] == "Allow" for a in as_list(s["Action"])}
    assert not granted - called, f"granted but never called (remove them): {sorted(granted - called)}"
    assert not called - granted, f"called but not granted: {sorted(called - granted)}"


def test_every_grant_in_the_worker_policy_is_used() -> None:
    """Each resource pattern of each statement serves at least one request of its actions (no dead grants)."""
    needed, _ = code_requests()
    for statement in statements(filled(WORKER_POLICY)):
        for pattern in as_list(statement["Resource"]):
            narrowed = {**statement, "Resource": pattern}
            assert any(statement_matches(narrowed, req) for req in needed), (
                f"{statement['Sid']}: {pattern} serves no call of {as_list(statement['Action'])}"
            )


def test_worker_policy_is_scoped_to_our_resources() -> None:
    bucket_arn = "arn:aws:s3:::${BUCKET}"
    for statement in statements(template(WORKER_POLICY)):
        sid, actions, resources = statement["Sid"], as_list(statement["Action"]), as_list(statement["Resource"])
        assert statement["Effect"] == "Allow", sid
        assert not any("*" in a or "?" in a for a in actions), f"{sid}: wildcard actions {actions}"
        for resource in resources:
            if resource == "*":
                scoped = [a for a in actions if not needs_resource_star(a.removeprefix("personalize:"))]
                assert all(a.startswith("personalize:") for a in actions), f"{sid}: Resource '*' outside Personalize"
                assert not scoped, f"{sid}: Resource '*' for actions that take a resource ARN: {scoped}"
                assert statement["Condition"] == {"StringEquals": {"aws:RequestedRegion": "${REGION}"}}, sid
            elif resource.startswith("arn:aws:personalize:"):
                if resource == EVENT_TRACKER_PATTERN:
                    assert set(actions) <= EVENT_TRACKER_ACTIONS, f"{sid}: {actions} on every event tracker"
                else:
                    assert PULLA_RESOURCE_PATTERN.fullmatch(resource), f"{sid}: {resource} is not a pulla* resource"
            elif resource.startswith("arn:aws:s3:::"):
                if resource == bucket_arn:
                    assert set(actions) <= S3_BUCKET_ACTIONS, f"{sid}: {actions} on the bucket itself"
                else:
                    assert resource == f"{bucket_arn}/personalize/*", f"{sid}: {resource} is outside the prefix"
            elif resource.startswith("arn:aws:iam::"):
                assert actions == ["iam:PassRole"], sid
                assert resource == f"arn:aws:iam::${{ACCOUNT_ID}}:role/{role_name()}", sid
                assert statement["Condition"] == {
                    "StringEquals": {"iam:PassedToService": "personalize.amazonaws.com"}
                }, sid
            else:
                assert resource == "${KMS_KEY_ARN}", f"{sid}: {resource} is none of our resources"
                assert set(actions) <= {"kms:Decrypt", "kms:GenerateDataKey"}, sid
                assert statement["Condition"] == {"StringEquals": {"kms:ViaService": "s3.${REGION}.amazonaws.com"}}


OTHER = "999988887777"
PA = f"arn:aws:personalize:{TEST_REGION}:{TEST_ACCOUNT}"
REFUSED = [
    request("personalize:DescribeCampaign", f"{PA}:campaign/other-shop", aws__RequestedRegion=TEST_REGION),
    request("personalize:DeleteDatasetGroup", f"{PA}:dataset-group/pulla", aws__RequestedRegion=TEST_REGION),
    request("personalize:DeleteCampaign", f"{PA}:campaign/pulla-campaign", aws__RequestedRegion=TEST_REGION),
    request("personalize:ListDatasets", "*", aws__RequestedRegion="us-east-1"),
    request(
        "personalize:CreateDatasetImportJob",
        f"arn:aws:personalize:{TEST_REGION}:{OTHER}:dataset-import-job/pulla-x",
        aws__RequestedRegion=TEST_REGION,
    ),
    request("personalize:CreateSchema", f"arn:aws:personalize:us-east-1:{TEST_ACCOUNT}:schema/pulla-x"),
    request("s3:GetObject", "arn:aws:s3:::pulla-personalize/other/secret.csv"),
    request("s3:PutObject", "arn:aws:s3:::someone-elses-bucket/personalize/x.csv"),
    request("s3:DeleteBucket", "arn:aws:s3:::pulla-personalize"),
    request("s3:PutBucketPolicy", "arn:aws:s3:::pulla-personalize"),
    request("s3:PutLifecycleConfiguration", "arn:aws:s3:::someone-elses-bucket"),
    request(
        "personalize:CreateDataDeletionJob",
        f"{PA}:data-deletion-job/other-shop-deletion",
        aws__RequestedRegion=TEST_REGION,
    ),
    request(
        "personalize:CreateBatchInferenceJob",
        f"{PA}:batch-inference-job/other-shop-recommendations",
        aws__RequestedRegion=TEST_REGION,
    ),
    request(
        "personalize:CreateBatchInferenceJob",
        f"{PA}:solution/other-shop-solution/1a2b3c4d",
        aws__RequestedRegion=TEST_REGION,
    ),
    request(
        "personalize:DescribeBatchSegmentJob",
        f"arn:aws:personalize:{TEST_REGION}:{OTHER}:batch-segment-job/pulla-crm-x",
        aws__RequestedRegion=TEST_REGION,
    ),
    request("personalize:ListBatchInferenceJobs", "*", aws__RequestedRegion="us-east-1"),
    request(
        "iam:PassRole", f"arn:aws:iam::{TEST_ACCOUNT}:role/Admin", iam__PassedToService="personalize.amazonaws.com"
    ),
    request(
        "iam:PassRole",
        f"arn:aws:iam::{TEST_ACCOUNT}:role/PullaPersonalizeS3Access",
        iam__PassedToService="ec2.amazonaws.com",
    ),
    request("kms:Decrypt", TEST_KMS_KEY_ARN, kms__ViaService="secretsmanager.ap-northeast-2.amazonaws.com"),
    request(
        "kms:Decrypt",
        TEST_KMS_KEY_ARN.replace("0f0f0f0f", "1e1e1e1e"),
        kms__ViaService=f"s3.{TEST_REGION}.amazonaws.com",
    ),
]


@pytest.mark.parametrize("req", REFUSED, ids=str)
def test_worker_policy_refuses_requests_outside_our_resources(req: Request) -> None:
    assert not is_allowed(filled(WORKER_POLICY), req)


def test_a_new_call_without_a_grant_fails_the_check(tmp_path: Path) -> None:
    """The checks above can fail: a module with calls the policy does not cover is caught by the same code."""
    module = tmp_path / "plugins" / "personalize_provider" / "cleanup.py"
    module.parent.mkdir(parents=True)
    module.write_text(
        "def cleanup(client, s3_client, hook):\n"
        "    client.delete_campaign(campaignArn='arn')\n"
        "    hook.conn.create_dataset_export_job(jobName='pulla-x', roleArn='r', tags=[])\n"
        "    s3_client.restore_object(Bucket='b', Key='k')\n"
        "    getattr(client, 'delete_filter')(filterArn='arn')\n"
        "    frame.copy()\n"
    )
    calls, problems = scan_code(tmp_path)
    assert [p.split(": ", 1)[1] for p in problems] == [
        "S3 operation restore_object has no IAM mapping; add it to S3_METHOD_ACTIONS"
    ]
    found = {c.operation for c in calls if not c.where.startswith("waiters/")}
    assert found == {"DeleteCampaign", "CreateDatasetExportJob", "DeleteFilter"}
    with pytest.raises(AssertionError, match="CreateDatasetExportJob"):
        required_requests(calls)  # its resource kind is not known: the test asks for it rather than guessing
    known = [c for c in calls if c.operation != "CreateDatasetExportJob"]
    worker = filled(WORKER_POLICY)
    refused = {req.action for req in required_requests(known) if not is_allowed(worker, req)}
    assert refused == {"personalize:DeleteCampaign", "personalize:DeleteFilter"}


def test_bucket_lifecycle_calls_are_bucket_level_grants(tmp_path: Path) -> None:
    """The setup DAG's lifecycle calls map to their IAM actions on the bucket ARN, which the worker policy allows."""
    module = tmp_path / "include" / "pulla_airflow" / "expiry.py"
    module.parent.mkdir(parents=True)
    module.write_text(
        "def expire(s3_client):\n"
        "    rules = s3_client.get_bucket_lifecycle_configuration(Bucket='b')['Rules']\n"
        "    s3_client.put_bucket_lifecycle_configuration(Bucket='b', LifecycleConfiguration={'Rules': rules})\n"
    )
    calls, problems = scan_code(tmp_path)
    assert problems == []
    found = [c for c in calls if c.service == "s3"]
    requests = {(req.action, req.resource, req.context) for req in required_requests(found)}
    bucket = f"arn:aws:s3:::{pipeline_config()['s3']['bucket']}"
    assert requests == {("s3:GetLifecycleConfiguration", bucket, ()), ("s3:PutLifecycleConfiguration", bucket, ())}
    worker = filled(WORKER_POLICY)
    assert all(is_allowed(worker, req) for req in required_requests(found))


# --- (3) the service role, the bucket policy and the KMS key policy -------------------------------------------------


def personalize_context(
    account: str = TEST_ACCOUNT, job: str = "dataset-import-job/pulla-interactions-x"
) -> dict[str, str]:
    return {"aws__SourceAccount": account, "aws__SourceArn": f"arn:aws:personalize:{TEST_REGION}:{account}:{job}"}


DELETION_JOB = "data-deletion-job/pulla-deletion-20261127-9f8e7d6c"


def test_trust_policy_trusts_only_personalize_acting_for_this_account() -> None:
    policy = filled(TRUST_POLICY)
    [statement] = statements(policy)
    assert statement["Principal"] == {"Service": "personalize.amazonaws.com"}
    assert statement["Action"] == "sts:AssumeRole"
    role = f"arn:aws:iam::{TEST_ACCOUNT}:role/{role_name()}"
    assert is_allowed(policy, request("sts:AssumeRole", role, PERSONALIZE_PRINCIPAL, **personalize_context()))
    assert not is_allowed(policy, request("sts:AssumeRole", role, PERSONALIZE_PRINCIPAL, **personalize_context(OTHER)))
    assert not is_allowed(policy, request("sts:AssumeRole", role, PERSONALIZE_PRINCIPAL))  # no source: refused
    assert not is_allowed(
        policy, request("sts:AssumeRole", role, ("Service", "ec2.amazonaws.com"), **personalize_context())
    )


def import_object(key: str = "import/interactions/dt=2026-11-27/part-0000.csv") -> str:
    s3 = pipeline_config()["s3"]
    return f"arn:aws:s3:::{s3['bucket']}/{s3['prefix']}{key}"


# The USER_ID file a data deletion job reads, and the deletion manifest beside it (member ids: not Personalize's).
DELETION_FILE_KEY = "deletions/window=20261126T1800-20261127T1800/users.csv"
DELETION_MANIFEST_KEY = "deletions/manifest.json"
# What a CRM batch job reads, and the file it writes (the input's name plus .out) in the output folder.
BATCH_INPUT_KEY = "crm/input/window=20261126T1800-20261127T1800/users.json"
BATCH_OUTPUT_KEY = "crm/output/window=20261126T1800-20261127T1800/users.json.out"
BATCH_JOB = "batch-inference-job/pulla-crm-20261127-1a2b3c4d"


def test_service_role_reads_inputs_and_writes_only_the_batch_output() -> None:
    policy = filled(SERVICE_ROLE_S3_POLICY)
    granted = {a for s in statements(policy) for a in as_list(s["Action"])}
    assert granted == {"s3:GetObject", "s3:ListBucket", "s3:PutObject"}
    bucket = f"arn:aws:s3:::{pipeline_config()['s3']['bucket']}"
    assert is_allowed(policy, request("s3:GetObject", import_object()))
    assert is_allowed(policy, request("s3:ListBucket", bucket, s3__prefix="personalize/import/interactions/"))
    assert is_allowed(policy, request("s3:GetObject", import_object(DELETION_FILE_KEY)))
    assert is_allowed(policy, request("s3:ListBucket", bucket, s3__prefix=f"personalize/{DELETION_FILE_KEY}"))
    assert not is_allowed(policy, request("s3:GetObject", import_object(DELETION_MANIFEST_KEY)))
    assert not is_allowed(policy, request("s3:GetObject", import_object().replace("/import/", "/runs/")))
    assert not is_allowed(policy, request("s3:ListBucket", bucket, s3__prefix="personalize/runs/"))
    assert not is_allowed(policy, request("s3:PutObject", import_object()))
    # Batch jobs: read the input, list both folders, write only into the output folder.
    assert is_allowed(policy, request("s3:GetObject", import_object(BATCH_INPUT_KEY)))
    assert is_allowed(policy, request("s3:PutObject", import_object(BATCH_OUTPUT_KEY)))
    for folder in ("personalize/crm/input/", "personalize/crm/output/window=20261126T1800-20261127T1800/"):
        assert is_allowed(policy, request("s3:ListBucket", bucket, s3__prefix=folder))
    assert not is_allowed(policy, request("s3:ListBucket", bucket, s3__prefix="personalize/crm/"))
    assert not is_allowed(policy, request("s3:PutObject", import_object(BATCH_INPUT_KEY)))
    assert not is_allowed(policy, request("s3:PutObject", import_object("crm/output-other/users.json.out")))
    assert not is_allowed(policy, request("s3:PutObject", import_object(DELETION_FILE_KEY)))
    assert not is_allowed(policy, request("s3:GetObject", import_object(BATCH_OUTPUT_KEY)))


def test_bucket_policy_gives_personalize_reads_of_inputs_writes_of_batch_output_and_requires_tls() -> None:
    policy = filled(BUCKET_POLICY)
    allows = [s for s in statements(policy) if s["Effect"] == "Allow"]
    assert all(s["Principal"] == {"Service": "personalize.amazonaws.com"} for s in allows)
    assert {a for s in allows for a in as_list(s["Action"])} == {"s3:GetObject", "s3:ListBucket", "s3:PutObject"}
    writes = [s for s in allows if "s3:PutObject" in as_list(s["Action"])]
    assert {r for s in writes for r in as_list(s["Resource"])} == {
        f"arn:aws:s3:::{pipeline_config()['s3']['bucket']}/personalize/crm/output/*"
    }
    bucket = f"arn:aws:s3:::{pipeline_config()['s3']['bucket']}"
    tls = {"aws__SecureTransport": "true", **personalize_context()}
    assert is_allowed(policy, request("s3:GetObject", import_object(), PERSONALIZE_PRINCIPAL, **tls))
    listing = request("s3:ListBucket", bucket, PERSONALIZE_PRINCIPAL, s3__prefix="personalize/import/users/", **tls)
    assert is_allowed(policy, listing)
    deleting = {"aws__SecureTransport": "true", **personalize_context(job=DELETION_JOB)}
    deletion_file = import_object(DELETION_FILE_KEY)
    assert is_allowed(policy, request("s3:GetObject", deletion_file, PERSONALIZE_PRINCIPAL, **deleting))
    assert not is_allowed(
        policy, request("s3:GetObject", import_object(DELETION_MANIFEST_KEY), PERSONALIZE_PRINCIPAL, **deleting)
    )
    assert not is_allowed(
        policy, request("s3:GetObject", import_object().replace("/import/", "/runs/"), PERSONALIZE_PRINCIPAL, **tls)
    )
    assert not is_allowed(policy, request("s3:PutObject", import_object(), PERSONALIZE_PRINCIPAL, **tls))
    other_account = {"aws__SecureTransport": "true", **personalize_context(OTHER)}
    assert not is_allowed(policy, request("s3:GetObject", import_object(), PERSONALIZE_PRINCIPAL, **other_account))
    plain_http = {**tls, "aws__SecureTransport": "false"}
    assert not is_allowed(policy, request("s3:GetObject", import_object(), PERSONALIZE_PRINCIPAL, **plain_http))
    batch = {"aws__SecureTransport": "true", **personalize_context(job=BATCH_JOB)}
    batch_input, batch_output = import_object(BATCH_INPUT_KEY), import_object(BATCH_OUTPUT_KEY)
    assert is_allowed(policy, request("s3:GetObject", batch_input, PERSONALIZE_PRINCIPAL, **batch))
    assert is_allowed(policy, request("s3:PutObject", batch_output, PERSONALIZE_PRINCIPAL, **batch))
    listing_output = request(
        "s3:ListBucket", bucket, PERSONALIZE_PRINCIPAL, s3__prefix="personalize/crm/output/", **batch
    )
    assert is_allowed(policy, listing_output)
    assert not is_allowed(policy, request("s3:PutObject", batch_input, PERSONALIZE_PRINCIPAL, **batch))
    other_batch = {"aws__SecureTransport": "true", **personalize_context(OTHER, job=BATCH_JOB)}
    assert not is_allowed(policy, request("s3:PutObject", batch_output, PERSONALIZE_PRINCIPAL, **other_batch))
    plain_batch = {**batch, "aws__SecureTransport": "false"}
    assert not is_allowed(policy, request("s3:PutObject", batch_output, PERSONALIZE_PRINCIPAL, **plain_batch))
    deny = [s for s in statements(policy) if s["Effect"] == "Deny"]
    assert deny, "no statement denies plain HTTP"
    assert all(s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in deny)
    assert {r for s in deny for r in as_list(s["Resource"])} == {bucket, f"{bucket}/*"}


def test_kms_statements_let_the_role_and_personalize_read_inputs_and_write_only_batch_output() -> None:
    policy = filled(KMS_STATEMENTS)
    assert {a for s in statements(policy) for a in as_list(s["Action"])} == {"kms:Decrypt", "kms:GenerateDataKey"}
    role = ("AWS", f"arn:aws:iam::{TEST_ACCOUNT}:role/{role_name()}")
    bucket = f"arn:aws:s3:::{pipeline_config()['s3']['bucket']}"
    for principal in (role, PERSONALIZE_PRINCIPAL):
        # Object ARNs, or the bucket's with S3 Bucket Keys on. Completing a multipart upload decrypts too.
        for context_arn in (
            import_object(),
            import_object(DELETION_FILE_KEY),
            import_object(BATCH_INPUT_KEY),
            import_object(BATCH_OUTPUT_KEY),
            bucket,
        ):
            assert is_allowed(policy, decrypt(principal, context_arn))
        # A data key to write with: only for the batch output (or the bucket's, with S3 Bucket Keys).
        for context_arn in (import_object(BATCH_OUTPUT_KEY), bucket):
            assert is_allowed(policy, decrypt(principal, context_arn, action="kms:GenerateDataKey"))
        for context_arn in (import_object(BATCH_INPUT_KEY), import_object(DELETION_FILE_KEY)):
            assert not is_allowed(policy, decrypt(principal, context_arn, action="kms:GenerateDataKey"))
        output = import_object(BATCH_OUTPUT_KEY)
        assert not is_allowed(
            policy, decrypt(principal, output, via="sqs.ap-northeast-2.amazonaws.com", action="kms:GenerateDataKey")
        )
        assert not is_allowed(policy, decrypt(principal, import_object(DELETION_MANIFEST_KEY)))
        assert not is_allowed(policy, decrypt(principal, import_object().replace("/import/", "/runs/")))
        assert not is_allowed(policy, decrypt(principal, import_object(), via="sqs.ap-northeast-2.amazonaws.com"))
        assert not is_allowed(policy, decrypt(principal, import_object(), action="kms:GenerateDataKey"))
    other_role = ("AWS", f"arn:aws:iam::{TEST_ACCOUNT}:role/Other")
    assert not is_allowed(policy, decrypt(other_role, import_object()))
    assert not is_allowed(policy, decrypt(other_role, import_object(BATCH_OUTPUT_KEY), action="kms:GenerateDataKey"))


def decrypt(
    principal: tuple[str, str],
    context_arn: str,
    *,
    via: str = f"s3.{TEST_REGION}.amazonaws.com",
    action: str = "kms:Decrypt",
) -> Request:
    """A KMS request S3 makes for ``principal`` reading (or, with GenerateDataKey, writing) the object ``context_arn``
    (key policies name the key "*")."""
    return request(action, "*", principal, kms__ViaService=via, kms__EncryptionContext__aws__s3__arn=context_arn)
