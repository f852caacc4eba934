"""The support table against botocore's models: every operation has an entry, every request member is classified.

A new botocore release that adds a member to an implemented operation fails here, naming it, until the member is
honoured (with a test that shows it) or refused in ``personalize_local/support.py``. That is what keeps the local
endpoint from ignoring a parameter quietly. The refusals themselves go through a real endpoint in
``tests/integration/local_endpoint/test_local_endpoint_support.py``.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from personalize_local import support
from personalize_local.service import EndpointSettings, PersonalizeService

ROOT = Path(__file__).resolve().parents[3]
REGENERATE = "`make support-doc` (or `PYTHONPATH=include python -m personalize_local.support`)"


@cache
def model(service: str) -> Any:
    import botocore.session

    return botocore.session.get_session().get_service_model(service)


def member_paths(shape: Any, walked: set[str], prefix: str = "") -> list[str]:
    """The paths of ``shape``'s members; a structure the table walks (``walked``) gives its members' paths instead."""
    paths = []
    for name, member in shape.members.items():
        path = prefix + name
        target, inner = member, path
        if member.type_name == "list" and member.member.type_name == "structure":
            target, inner = member.member, path + "[]"
        if target.type_name == "structure" and inner in walked:
            paths += member_paths(target, walked, inner + ".")
        else:
            paths.append(path)
    return paths


def walked_structures(operation: support.Operation) -> set[str]:
    """Every prefix of the table's paths: the structures (and lists of structures) classified member by member."""
    prefixes = set()
    for path in operation.members:
        parts = path.split(".")
        prefixes |= {".".join(parts[:end]) for end in range(1, len(parts))}
    return prefixes


MODEL_OPERATIONS = [
    (service, name)
    for service in (support.CONTROL_PLANE, support.RUNTIME, support.EVENTS)
    for name in model(service).operation_names
]
IMPLEMENTED = sorted(name for name, spec in support.OPERATIONS.items() if spec.implemented)


def test_every_operation_of_the_three_models_has_an_entry_and_no_other() -> None:
    in_models = {name: service for service, name in MODEL_OPERATIONS}
    missing = sorted(set(in_models) - set(support.OPERATIONS))
    assert not missing, f"operations of botocore's models missing from support.OPERATIONS: {missing}"
    unknown = sorted(set(support.OPERATIONS) - set(in_models))
    assert not unknown, f"support.OPERATIONS names operations no model has: {unknown}"
    wrong = sorted(name for name, spec in support.OPERATIONS.items() if spec.service != in_models[name])
    assert not wrong, f"support.OPERATIONS puts these operations in the wrong service: {wrong}"


def test_the_control_plane_dispatch_serves_exactly_the_implemented_operations(tmp_path: Path) -> None:
    service = PersonalizeService(EndpointSettings(data_dir=tmp_path))
    try:
        dispatched = set(service._operations())
    finally:
        service.close()
    implemented = {n for n, s in support.OPERATIONS.items() if s.implemented and s.service == support.CONTROL_PLANE}
    assert dispatched == implemented


@pytest.mark.parametrize("operation", IMPLEMENTED)
def test_every_input_member_is_honoured_or_refused(operation: str) -> None:
    spec = support.OPERATIONS[operation]
    shape = model(spec.service).operation_model(operation).input_shape
    paths = member_paths(shape, walked_structures(spec)) if shape is not None else []
    unclassified = [path for path in paths if path not in spec.members]
    assert not unclassified, (
        f"{operation}: input members neither honoured nor refused in personalize_local/support.py: {unclassified}"
    )
    stale = sorted(set(spec.members) - set(paths))
    assert not stale, f"{operation}: support.py classifies members the model does not have: {stale}"
    for path, member in spec.members.items():
        assert member.status in (support.HONOURED, support.REFUSED), f"{operation}.{path}: {member.status!r}"
        assert member.note.strip(), f"{operation}.{path} says nothing of what it does or why it is refused"
        if member.status == support.HONOURED:
            assert member.proof, f"{operation}.{path} is honoured but names no test that shows it"
        else:
            assert member.proof is None, f"{operation}.{path} is refused yet names a proof"


def test_unimplemented_operations_say_why() -> None:
    silent = sorted(name for name, spec in support.OPERATIONS.items() if not spec.implemented and not spec.note)
    assert not silent
    assert not [name for name, spec in support.OPERATIONS.items() if not spec.implemented and spec.members]


@cache
def functions_in(relative: str) -> frozenset[str]:
    tree = ast.parse((ROOT / relative).read_text(encoding="utf-8"))
    return frozenset(node.name for node in tree.body if isinstance(node, ast.FunctionDef))


PROOFS = sorted(
    {member.proof for spec in support.OPERATIONS.values() for member in spec.members.values() if member.proof}
)


@pytest.mark.parametrize("proof", PROOFS, ids=[proof.rpartition("::")[2] for proof in PROOFS])
def test_each_proof_names_a_test_that_exists(proof: str) -> None:
    relative, _, function = proof.partition("::")
    assert (ROOT / relative).is_file(), f"{proof}: no such test module"
    assert function.startswith("test_"), f"{proof}: not a test function"
    assert function in functions_in(relative), f"{proof}: {relative} has no test function {function}"


def test_refusals_are_in_the_services_words() -> None:
    from personalize_local import errors

    body = {"name": "s", "datasetGroupArn": "arn", "performHPO": True}
    with pytest.raises(errors.InvalidInputError) as excinfo:
        support.refuse_unsupported("CreateSolution", body)
    message = excinfo.value.message
    assert message.startswith("performHPO is not supported by the local endpoint: hyperparameter optimization")
    assert "docs/local-endpoint-support.md" in message
    # The values the endpoint behaves as anyway are taken, at any depth; so is an empty structure.
    support.refuse_unsupported("CreateSolution", {**body, "performHPO": False, "solutionConfig": {"hpoConfig": {}}})
    events = {
        "eventList": [
            {"eventType": "click"},
            {"eventType": "click", "metricAttribution": {"eventAttributionSource": "x"}},
        ]
    }
    with pytest.raises(errors.InvalidInputError, match=r"^eventList\[1\]\.metricAttribution is not supported"):
        support.refuse_unsupported("PutEvents", events)


def test_the_generated_page_is_current() -> None:
    committed = ROOT / support.DOC_PATH
    assert committed.is_file(), f"{support.DOC_PATH} is missing; generate it with {REGENERATE}"
    assert committed.read_text(encoding="utf-8") == support.render_markdown(), (
        f"{support.DOC_PATH} is stale; regenerate it with {REGENERATE} from the repository root"
    )
