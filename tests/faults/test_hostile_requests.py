"""Hostile and malformed requests to the local endpoint: each gets the service's 4xx answer, never a 500, and the
endpoint keeps serving.

Each finding of the probe (issue 14, "Bad requests to the endpoint", and issue 18) is a case here, sent as raw HTTP
and, where botocore's own checks let it through, with stock boto3. After every bad request a good one must work.
"""

from __future__ import annotations

import socket
import threading
import time
from datetime import UTC, datetime

import pytest
from botocore.exceptions import ClientError

from personalize_local import synthetic
from personalize_local.kinds import DATASET_GROUP
from personalize_local.server import LocalEndpoint
from personalize_local.service import EndpointSettings
from tests.faults.endpoint_client import (
    assert_still_serving,
    boto_clients,
    connect,
    control,
    send,
    wait_active,
)

pytestmark = pytest.mark.faults

ROLE_ARN = "arn:aws:iam::123456789012:role/PersonalizeS3Access"
CAMPAIGN_ARN = "arn:aws:personalize:us-east-1:123456789012:campaign/none"
VERSION_ARN = "arn:aws:personalize:us-east-1:123456789012:solution/none/abcdef12"
#: The three JSON routes: the control plane (one operation for it), GetRecommendations, PutEvents.
ROUTES = [("/", "ListDatasetGroups"), ("/recommendations", None), ("/events", None), ("/items", None), ("/users", None)]


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory):
    settings = EndpointSettings(data_dir=tmp_path_factory.mktemp("hostile"), status_delay=0.01)
    with LocalEndpoint(settings) as running:
        yield running


@pytest.fixture(scope="module")
def group(endpoint):
    """An ACTIVE dataset group with an Interactions and an Items dataset and an ACTIVE event tracker."""
    personalize, _, _ = boto_clients(endpoint.url)
    group_arn = personalize.create_dataset_group(name="hostile")["datasetGroupArn"]
    wait_active(lambda: personalize.describe_dataset_group(datasetGroupArn=group_arn)["datasetGroup"])
    datasets = {}
    for dataset_type in ("Interactions", "Items"):
        schema_arn = personalize.create_schema(
            name=f"hostile-{dataset_type.lower()}", schema=synthetic.schema_text(dataset_type)
        )["schemaArn"]
        arn = personalize.create_dataset(
            name=f"hostile-{dataset_type.lower()}",
            schemaArn=schema_arn,
            datasetGroupArn=group_arn,
            datasetType=dataset_type,
        )["datasetArn"]
        wait_active(lambda arn=arn: personalize.describe_dataset(datasetArn=arn)["dataset"])
        datasets[dataset_type] = arn
    tracker = personalize.create_event_tracker(name="hostile-tracker", datasetGroupArn=group_arn)
    wait_active(lambda: personalize.describe_event_tracker(eventTrackerArn=tracker["eventTrackerArn"])["eventTracker"])
    return {"arn": group_arn, "datasets": datasets, "trackingId": tracker["trackingId"]}


def event(**overrides):
    return {"eventType": "click", "itemId": "p1", "sentAt": time.time(), **overrides}


# ---- bodies that are not what the operation reads ---------------------------------------------------------------


@pytest.mark.parametrize(("path", "target"), ROUTES)
def test_a_10000_deep_json_array_is_a_serialization_error_not_a_recursion_error(endpoint, path, target):
    answer = send(endpoint.url, path, b"[" * 10_000 + b"]" * 10_000, target=target)
    assert answer.status == 400
    assert answer.code == "SerializationException"
    assert "deeper than 64 levels" in answer.message
    # As deep, inside an object member, with brackets hidden in strings not counted.
    answer = send(endpoint.url, path, b'{"a": "[[[[", "b": ' + b"[" * 65 + b"]" * 65 + b"}", target=target)
    assert (answer.status, answer.code) == (400, "SerializationException")
    assert_still_serving(endpoint.url)


@pytest.mark.parametrize(
    "body", [b"[]", b'"text"', b"42", b"null", b"{not json", b"\xff\xfe{}", b'{"maxResults": NaN}', b"1e999"]
)
def test_a_body_that_is_not_a_json_object_is_a_serialization_error(endpoint, body):
    answer = control(endpoint.url, "ListDatasetGroups", body)
    assert (answer.status, answer.code) == (400, "SerializationException"), answer.raw
    assert_still_serving(endpoint.url)


@pytest.mark.parametrize(
    ("path", "target", "body", "field"),
    [
        ("/recommendations", None, {"campaignArn": [CAMPAIGN_ARN], "userId": "u1"}, "campaignArn"),
        ("/", "ListDatasetGroups", {"maxResults": "abc"}, "maxResults"),
        ("/", "ListDatasetGroups", {"maxResults": 2.5}, "maxResults"),
        ("/", "ListDatasetGroups", {"maxResults": 2**40}, "maxResults"),
        ("/", "CreateDatasetGroup", {"name": {"nested": "object"}}, "name"),
        ("/events", None, {"trackingId": "t", "sessionId": "s", "eventList": "abc"}, "eventList"),
        ("/events", None, {"trackingId": "t", "sessionId": "s", "eventList": [{"eventType": 1}]}, "eventType"),
        ("/events", None, {"trackingId": "t", "sessionId": "s", "eventList": ["abc"]}, "eventList[0]"),
        ("/recommendations", None, {"campaignArn": CAMPAIGN_ARN, "userId": "u1", "numResults": True}, "numResults"),
        ("/recommendations", None, {"campaignArn": CAMPAIGN_ARN, "userId": "u1", "context": {"a": 1}}, "context.a"),
    ],
)
def test_a_member_of_the_wrong_type_is_a_serialization_error_naming_it(endpoint, path, target, body, field):
    answer = send(endpoint.url, path, body, target=target)
    assert (answer.status, answer.code) == (400, "SerializationException"), answer.raw
    assert field in answer.message
    assert_still_serving(endpoint.url)


def test_a_nan_sent_at_is_a_serialization_error(endpoint, group):
    body = '{"trackingId": "%s", "sessionId": "s", "eventList": [{"eventType": "click", "sentAt": NaN}]}'
    for constant in ("NaN", "Infinity", "-Infinity"):
        answer = send(endpoint.url, "/events", body.replace("NaN", constant) % group["trackingId"])
        assert (answer.status, answer.code) == (400, "SerializationException"), constant
    assert_still_serving(endpoint.url)


def test_unknown_members_are_refused(endpoint):
    answer = control(endpoint.url, "CreateDatasetGroup", {"name": "unknown-member", "colour": "red"})
    assert (answer.status, answer.code) == (400, "SerializationException")
    assert "'colour'" in answer.message
    answer = send(endpoint.url, "/events", {"trackingId": "t", "sessionId": "s", "eventList": [event(x=1)]})
    assert (answer.status, answer.code) == (400, "SerializationException")
    assert "eventList[0]" in answer.message
    # Nothing was created by the refused call.
    assert control(endpoint.url, "DescribeDatasetGroup", {"datasetGroupArn": "x"}).status == 400
    names = [g["name"] for g in control(endpoint.url, "ListDatasetGroups").body["datasetGroups"]]
    assert "unknown-member" not in names


# ---- constraints of the model -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "target", "body", "constraint"),
    [
        (
            "/",
            "ListDatasetGroups",
            {"maxResults": -5},
            "Value '-5' at 'maxResults' failed to satisfy constraint: "
            "Member must have value greater than or equal to 1",
        ),
        ("/", "ListDatasetGroups", {"maxResults": 0}, "greater than or equal to 1"),
        ("/", "ListDatasetGroups", {"maxResults": 101}, "less than or equal to 100"),
        (
            "/",
            "CreateCampaign",
            {"name": "c", "solutionVersionArn": VERSION_ARN, "minProvisionedTPS": 0},
            "Value '0' at 'minProvisionedTPS' failed to satisfy constraint",
        ),
        ("/", "CreateDatasetGroup", {}, "Value null at 'name' failed to satisfy constraint: Member must not be null"),
        ("/", "CreateDatasetGroup", {"name": "not a valid name!"}, "Member must satisfy regular expression pattern"),
        (
            "/",
            "CreateDataset",
            {"name": "d", "schemaArn": VERSION_ARN, "datasetGroupArn": VERSION_ARN, "datasetType": "x" * 300},
            "length less than or equal to 256",
        ),
        (
            "/",
            "CreateSolutionVersion",
            {"solutionArn": VERSION_ARN, "trainingMode": "HALF"},
            "Member must satisfy enum value set: [FULL, UPDATE, AUTOTRAIN]",
        ),
        ("/recommendations", None, {"campaignArn": "not-an-arn", "userId": "u1"}, "at 'campaignArn'"),
        ("/recommendations", None, {"campaignArn": CAMPAIGN_ARN, "numResults": -1}, "at 'numResults'"),
        ("/events", None, {"trackingId": "t", "sessionId": "s", "eventList": []}, "at 'eventList'"),
        (
            "/events",
            None,
            {"trackingId": "t", "sessionId": "s", "eventList": [event(itemId="")]},
            "Value at 'eventList[0].itemId'",
        ),  # a sensitive member: not quoted
    ],
)
def test_a_broken_constraint_is_a_validation_error_in_the_services_words(endpoint, path, target, body, constraint):
    answer = send(endpoint.url, path, body, target=target)
    assert (answer.status, answer.code) == (400, "ValidationException"), answer.raw
    assert answer.message.startswith("1 validation error detected: ") or "validation errors detected" in answer.message
    assert constraint in answer.message
    assert_still_serving(endpoint.url)


def test_the_model_is_checked_before_any_resource_is_looked_up(endpoint):
    # The campaign does not exist, but the body is refused first, as the service does.
    answer = send(endpoint.url, "/recommendations", {"campaignArn": CAMPAIGN_ARN, "numResults": -1})
    assert answer.code == "ValidationException"
    answer = send(endpoint.url, "/recommendations", {"campaignArn": CAMPAIGN_ARN, "userId": "u1"})
    assert (answer.status, answer.code) == (404, "ResourceNotFoundException")


def test_boto3_gets_the_same_answers_where_botocore_lets_the_request_through(endpoint, group):
    personalize, runtime, events = boto_clients(endpoint.url)
    with pytest.raises(ClientError) as excinfo:
        personalize.create_dataset_group(name="not a valid name!")
    assert excinfo.value.response["Error"]["Code"] == "ValidationException"
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(ClientError) as excinfo:
        runtime.get_recommendations(campaignArn="not-an-arn", userId="u1")
    assert excinfo.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError) as excinfo:
        events.put_events(
            trackingId=group["trackingId"], sessionId="s", eventList=[event(sentAt=datetime(2100, 1, 1, tzinfo=UTC))]
        )
    assert excinfo.value.response["Error"]["Code"] == "InvalidInputException"
    assert "eventList[0].sentAt" in excinfo.value.response["Error"]["Message"]
    assert personalize.list_dataset_groups()["datasetGroups"]


# ---- expressions and schemas nested too deep ----------------------------------------------------------------------


def test_a_filter_with_1200_nested_parentheses_is_invalid_input(endpoint, group):
    expression = "INCLUDE ItemID WHERE " + "(" * 1200 + 'Items.CUP_SIZE IN ("B")' + ")" * 1200
    body = {"name": "deep", "datasetGroupArn": group["arn"], "filterExpression": expression}
    answer = control(endpoint.url, "CreateFilter", body)
    assert (answer.status, answer.code) == (400, "InvalidInputException")
    assert "nest deeper than" in answer.message
    personalize, _, _ = boto_clients(endpoint.url)
    with pytest.raises(ClientError) as excinfo:
        personalize.create_filter(name="deep", datasetGroupArn=group["arn"], filterExpression=expression)
    assert excinfo.value.response["Error"]["Code"] == "InvalidInputException"
    # Three levels are fine.
    shallow = 'INCLUDE ItemID WHERE (((Items.CUP_SIZE IN ("B"))))'
    assert personalize.create_filter(name="shallow", datasetGroupArn=group["arn"], filterExpression=shallow)
    assert_still_serving(endpoint.url)


def test_a_schema_with_5000_nested_brackets_is_invalid_input(endpoint):
    deep_fields = '{"type": "record", "name": "Items", "fields": ' + "[" * 4000 + "]" * 4000 + "}"
    for schema in ("[" * 5000 + "]" * 5000, deep_fields):
        answer = control(endpoint.url, "CreateSchema", {"name": "deep", "schema": schema})
        assert (answer.status, answer.code) == (400, "InvalidInputException"), answer.raw[:300]
        assert "deeper than 64 levels" in answer.message
    personalize, _, _ = boto_clients(endpoint.url)
    with pytest.raises(ClientError) as excinfo:
        personalize.create_schema(name="deep", schema="[" * 5000 + "]" * 5000)
    assert excinfo.value.response["Error"]["Code"] == "InvalidInputException"
    assert_still_serving(endpoint.url)


# ---- PutEvents ------------------------------------------------------------------------------------------------------


def _stored_events(endpoint, group):
    events = endpoint.service.store.read_events(group["datasets"]["Interactions"])
    return 0 if events is None else len(events)


@pytest.mark.parametrize(
    "bad",
    [
        {"sentAt": 1e300},
        {"sentAt": 10**300},
        {"sentAt": time.time() * 1000},  # milliseconds
        {"sentAt": 100.0},  # 1970
        {"properties": "[1, 2]"},
        {"properties": "not json"},
        {"properties": "[" * 600 + "]" * 600},
    ],
)
def test_a_bad_event_is_refused_before_anything_is_stored(endpoint, group, bad):
    before = _stored_events(endpoint, group)
    body = {"trackingId": group["trackingId"], "sessionId": "s", "eventList": [event(), event(**bad)]}
    answer = send(endpoint.url, "/events", body)
    assert answer.status == 400, answer.raw
    assert answer.code in ("InvalidInputException", "SerializationException", "ValidationException")
    assert "eventList[1]" in answer.message
    assert _stored_events(endpoint, group) == before  # the good first event was not stored either
    assert send(endpoint.url, "/events", {**body, "eventList": [event()]}).status == 200
    assert _stored_events(endpoint, group) == before + 1


def test_events_stored_before_sent_at_was_checked_do_not_break_reads(endpoint, group):
    """An events file written by an older endpoint may hold a 300-digit TIMESTAMP: it is skipped, not fatal."""
    from personalize_local.recommender import build_history

    dataset = group["datasets"]["Interactions"]
    row = {
        "USER_ID": "u",
        "ITEM_ID": "p1",
        "TIMESTAMP": "1" + "0" * 300,
        "EVENT_TYPE": "click",
        "EVENT_VALUE": "",
        "SESSION_ID": "s",
        "EVENT_ID": "legacy",
        "PROPERTIES": "",
    }
    endpoint.service.store.append_events(dataset, [row])
    _, events = endpoint.service.serving.interactions(group["arn"])
    assert "legacy" not in set(events["EVENT_ID"])
    assert build_history(None, events) is not None


# ---- HTTP: methods, sizes, slow clients --------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
@pytest.mark.parametrize(("path", "target"), ROUTES)
def test_only_post_is_taken_on_the_json_routes(endpoint, method, path, target):
    answer = send(endpoint.url, path, b"{}", target=target, method=method)
    assert answer.status == 405
    assert answer.headers.get("allow") == "POST"
    assert answer.code == "UnknownOperationException"
    assert_still_serving(endpoint.url)


def test_a_50_mb_body_is_refused_on_its_content_length_without_being_read(endpoint):
    conn = connect(endpoint.url)
    conn.putrequest("POST", "/")
    conn.putheader("X-Amz-Target", "AmazonPersonalize.CreateSchema")
    conn.putheader("Content-Type", "application/x-amz-json-1.1")
    conn.putheader("Content-Length", str(50 * 1024 * 1024))
    conn.endheaders()  # not one byte of the body follows
    started = time.monotonic()
    response = conn.getresponse()
    assert response.status == 413
    assert b"RequestEntityTooLargeException" in response.read()
    assert time.monotonic() - started < 5
    conn.close()
    assert_still_serving(endpoint.url)


def test_a_chunked_body_is_refused_once_it_passes_the_limit(endpoint):
    conn = connect(endpoint.url)
    conn.putrequest("POST", "/events")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    chunk = b"x" * (1024 * 1024)
    try:
        for _ in range(11):  # 11 MB of chunks, and the body never ends (no last chunk)
            conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
    except OSError:
        pass  # the server may stop reading: fine
    # The answer comes although the body never ended: it was refused while being read, not after.
    response = conn.getresponse()
    assert response.status == 413
    assert response.getheader("x-amzn-ErrorType") == "RequestEntityTooLargeException"
    conn.close()
    assert_still_serving(endpoint.url)


def test_errors_do_not_echo_huge_inputs(endpoint):
    huge = "n" * 1_000_000
    for answer in (
        control(endpoint.url, "CreateDatasetGroup", {"name": huge}),
        control(endpoint.url, "DescribeDatasetGroup", {"datasetGroupArn": huge}),
        control(endpoint.url, huge[:5000], {}),
        send(endpoint.url, "/recommendations", {"campaignArn": huge}),
        send(endpoint.url, "/" + huge[:5000], {}),
    ):
        assert 400 <= answer.status < 500
        assert len(answer.raw) < 2_000, answer.raw[:200]
    assert_still_serving(endpoint.url)


def test_oversized_headers_are_refused(endpoint):
    with socket.create_connection(endpoint.url.removeprefix("http://").rsplit(":", 1), timeout=10) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n")
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 431")
    assert_still_serving(endpoint.url)


def test_half_sent_requests_time_out_and_the_endpoint_keeps_serving(tmp_path):
    from personalize_local.server import HttpLimits

    settings = EndpointSettings(data_dir=tmp_path, status_delay=0.01)
    with LocalEndpoint(settings, limits=HttpLimits(idle_timeout=0.5)) as fast:
        host, port = fast.url.removeprefix("http://").rsplit(":", 1)
        stalled = []
        for number in range(200):
            sock = socket.create_connection((host, int(port)), timeout=10)
            # Half a request: the headers never end (and a trickle of bytes does not keep it open).
            sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: AmazonPersonalize.ListDatasetGroups\r\n")
            stalled.append(sock)
            if number == 100:
                assert_still_serving(fast.url)
        idle = socket.create_connection((host, int(port)), timeout=10)  # connected, never sends
        time.sleep(0.3)
        stalled[0].sendall(b"X-Slow: 1\r\n")
        assert_still_serving(fast.url)
        started = time.monotonic()
        for sock in [*stalled, idle]:
            assert sock.recv(1024) == b"", "a stalled connection was answered instead of closed"
            sock.close()
        assert time.monotonic() - started < 5
        # A kept-alive connection that goes on sending requests is not cut.
        conn = connect(fast.url)
        for _ in range(4):
            assert control(fast.url, "ListDatasetGroups", connection=conn).status == 200
            time.sleep(0.2)
        conn.close()


# ---- concurrency ------------------------------------------------------------------------------------------------


def test_twenty_simultaneous_creates_of_one_name_make_exactly_one_resource(endpoint):
    barrier = threading.Barrier(20)
    answers = []

    def create() -> None:
        conn = connect(endpoint.url)
        conn.connect()
        barrier.wait()
        answers.append(control(endpoint.url, "CreateDatasetGroup", {"name": "raced"}, connection=conn))
        conn.close()

    threads = [threading.Thread(target=create) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(answers) == 20
    assert sorted(answer.status for answer in answers) == [200] + [400] * 19
    assert {answer.code for answer in answers if answer.status == 400} == {"ResourceAlreadyExistsException"}
    created = {answer.body["datasetGroupArn"] for answer in answers if answer.status == 200}
    stored = [g for g in endpoint.service.store.all(DATASET_GROUP) if g["name"] == "raced"]
    assert [g["datasetGroupArn"] for g in stored] == list(created)


# ---- every front end --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("server", ["httptools", "uvicorn", "stdlib"])
def test_every_front_end_refuses_the_same_way(tmp_path, server):
    pytest.importorskip(server) if server != "stdlib" else None
    with LocalEndpoint(EndpointSettings(data_dir=tmp_path, status_delay=0.01), server=server) as running:
        assert send(running.url, "/", b"{}", target="ListDatasetGroups", method="PUT").status == 405
        deep = send(running.url, "/events", b"[" * 10_000 + b"]" * 10_000)
        assert (deep.status, deep.code) == (400, "SerializationException")
        conn = connect(running.url)
        conn.putrequest("POST", "/")
        conn.putheader("X-Amz-Target", "AmazonPersonalize.ListDatasetGroups")
        conn.putheader("Content-Length", str(50 * 1024 * 1024))
        conn.endheaders()
        assert conn.getresponse().status == 413
        conn.close()
        assert_still_serving(running.url)
