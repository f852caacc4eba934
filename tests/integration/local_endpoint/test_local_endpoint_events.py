"""personalize-events as the service reads it, through stock boto3 against the running endpoint: PutEvents with the
item in ``properties``, PutItems and PutUsers reaching the data at once (and across a restart), filter field names
in any case, and bad events, items and users refused naming the field."""

from __future__ import annotations

import json
import time

import pytest
from botocore.exceptions import ClientError

from .conftest import ROLE_ARN, create_filter, make_clients, recommend, unique, wait_for

ONLY_D_FILTER = 'INCLUDE ItemID WHERE Items.CUP_SIZE IN ("D") IF CurrentUser.CUP_SIZE IN ("D")'


@pytest.fixture(scope="module")
def tracking_id(shop) -> str:
    p = shop.clients.personalize
    tracker = p.create_event_tracker(name=unique("tracker"), datasetGroupArn=shop.group.arn)
    wait_for(lambda: p.describe_event_tracker(eventTrackerArn=tracker["eventTrackerArn"])["eventTracker"])
    return tracker["trackingId"]


def refused(call, **kwargs) -> ClientError:
    with pytest.raises(ClientError) as excinfo:
        call(**kwargs)
    return excinfo.value


def test_an_item_sent_in_properties_moves_recommendations_like_item_id_and_feeds_filters(shop, tracking_id):
    events = shop.clients.events
    watched_filter = create_filter(shop, 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("watch")')
    # The same member twice over: one gets her clicks as properties, the other as itemId.
    member = shop.data.interactions["USER_ID"].iloc[0]
    before = recommend(shop, member)
    clicked = [item for item in shop.data.items["ITEM_ID"] if item not in before][:4]
    now = time.time()
    events.put_events(
        trackingId=tracking_id,
        userId=member,
        sessionId=unique("s"),
        eventList=[
            {"eventType": "watch", "properties": json.dumps({"itemId": item}), "sentAt": now + i}
            for i, item in enumerate(clicked)
        ],
    )
    after_properties = recommend(shop, member)
    moved = sum(a != b for a, b in zip(before, after_properties, strict=True))
    assert moved >= 5, (before, after_properties)
    # Right after the events the filter drops what she just watched, from the full list it would serve.
    unfiltered = recommend(shop, member, numResults=200)
    assert set(clicked) & set(unfiltered)
    filtered = recommend(shop, member, numResults=200, filterArn=watched_filter)
    assert not set(clicked) & set(filtered)

    twin = unique("twin")
    events.put_events(
        trackingId=tracking_id,
        userId=twin,
        sessionId=unique("s"),
        eventList=[{"eventType": "watch", "itemId": item, "sentAt": now + i} for i, item in enumerate(clicked)],
    )
    lone = unique("lone")
    events.put_events(
        trackingId=tracking_id,
        userId=lone,
        sessionId=unique("s"),
        eventList=[
            {"eventType": "watch", "properties": json.dumps({"itemId": item}), "sentAt": now + i}
            for i, item in enumerate(clicked)
        ],
    )
    # A new user whose only events came as properties is served exactly like one whose events came as itemId.
    assert recommend(shop, lone) == recommend(shop, twin)


def test_a_lower_case_filter_as_in_the_samples_works(shop, tracking_id):
    lower = create_filter(shop, 'EXCLUDE itemId WHERE INTERACTIONS.event_type in ("Buy")')
    member = unique("m")
    item = recommend(shop, member)[0]
    shop.clients.events.put_events(
        trackingId=tracking_id,
        userId=member,
        sessionId=unique("s"),
        eventList=[{"eventType": "buy", "itemId": item, "sentAt": time.time()}],
    )
    assert item in recommend(shop, member, numResults=100)
    assert item not in recommend(shop, member, numResults=100, filterArn=lower)
    p = shop.clients.personalize
    error = refused(
        p.create_filter,
        name=unique("bad"),
        datasetGroupArn=shop.group.arn,
        filterExpression='INCLUDE ItemID WHERE Items.cup_sizes IN ("B")',
    )
    assert error.response["Error"]["Code"] == "InvalidInputException"
    assert "cup_sizes" in error.response["Error"]["Message"]


def test_bad_events_are_refused_naming_the_event_and_field(shop, tracking_id):
    events = shop.clients.events
    now = time.time()
    cases = [
        ({"eventType": "click", "itemId": "p1", "properties": '{"itemId": "p2"}', "sentAt": now}, "itemId"),
        ({"eventType": "click", "properties": '{"colour": "red"}', "sentAt": now}, "'colour'"),
        ({"eventType": "click", "properties": '{"device": ["a"]}', "sentAt": now}, "properties.device"),
        ({"eventType": "click", "metricAttribution": {"eventAttributionSource": "x"}, "sentAt": now}, "metric"),
    ]
    for event, field in cases:
        good = {"eventType": "click", "itemId": "p1", "sentAt": now}
        error = refused(events.put_events, trackingId=tracking_id, sessionId="s", userId="u1", eventList=[good, event])
        assert error.response["Error"]["Code"] == "InvalidInputException"
        assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        message = error.response["Error"]["Message"]
        assert "eventList[1]" in message, message
        assert field in message, message


NEW_TYPE = "plunge-2026"


def test_put_items_reaches_filters_at_once_and_survives_a_restart(shop, start_endpoint):
    events = shop.clients.events
    by_type = create_filter(shop, "INCLUDE ItemID WHERE Items.CUP_TYPE IN ($TYPE)")
    values = {"TYPE": json.dumps(NEW_TYPE)}
    visitor = unique("visitor")
    assert recommend(shop, visitor, filterArn=by_type, filterValues=values) == []
    latest = int(shop.data.interactions["TIMESTAMP"].astype("int64").max())
    events.put_items(
        datasetArn=shop.group.datasets["Items"],
        items=[
            {
                "itemId": "arrival-1",
                "properties": json.dumps(
                    {"creationTimestamp": latest, "cupSize": "B|C", "bandSize": "75|80", "cupType": NEW_TYPE}
                ),
            }
        ],
    )
    assert recommend(shop, visitor, filterArn=by_type, filterValues=values) == ["arrival-1"]

    # Kept on disk: an endpoint started afresh on the same data directory serves it too.
    shop.endpoint.stop()
    restarted = start_endpoint(shop.endpoint.service.settings.data_dir)
    shop.endpoint, shop.clients = restarted, make_clients(restarted.url)
    assert shop.clients.personalize.describe_filter(filterArn=by_type)["filter"]["status"] == "ACTIVE"
    assert recommend(shop, visitor, filterArn=by_type, filterValues=values) == ["arrival-1"]


def test_put_users_changes_what_a_current_user_filter_gives(shop):
    # Only for members whose CurrentUser.CUP_SIZE is D, recommendations keep to items offered in D.
    only_d = create_filter(shop, ONLY_D_FILTER)
    users = shop.data.users
    member = users.loc[users["CUP_SIZE"] == "A", "USER_ID"].iloc[0]
    band = users.loc[users["USER_ID"] == member, "BAND_SIZE"].iloc[0]
    offered_in_d = set(shop.data.items.loc[shop.data.items["CUP_SIZE"].str.contains("D"), "ITEM_ID"])
    as_a = recommend(shop, member, numResults=25, filterArn=only_d)
    assert not set(as_a) <= offered_in_d  # the expression does not apply to her yet
    shop.clients.events.put_users(
        datasetArn=shop.group.datasets["Users"],
        users=[{"userId": member, "properties": json.dumps({"cupSize": "D", "bandSize": band})}],
    )
    as_d = recommend(shop, member, numResults=25, filterArn=only_d)
    assert len(as_d) == 25
    assert set(as_d) <= offered_in_d


def test_a_data_deletion_takes_away_what_put_users_sent(shop, s3_server):
    p = shop.clients.personalize
    only_d = create_filter(shop, ONLY_D_FILTER)
    offered_in_d = set(shop.data.items.loc[shop.data.items["CUP_SIZE"].str.contains("D"), "ITEM_ID"])
    member = unique("member")  # known by her PutUsers record alone
    shop.clients.events.put_users(
        datasetArn=shop.group.datasets["Users"],
        users=[{"userId": member, "properties": json.dumps({"cupSize": "D", "bandSize": "80"})}],
    )
    assert set(recommend(shop, member, filterArn=only_d)) <= offered_in_d
    location = s3_server.put_csv(f"{unique('delete')}/users.csv", f"USER_ID\n{member}\n")
    job_arn = p.create_data_deletion_job(
        jobName=unique("forget"),
        datasetGroupArn=shop.group.arn,
        dataSource={"dataLocation": location},
        roleArn=ROLE_ARN,
    )["dataDeletionJobArn"]
    deadline = time.monotonic() + 30
    while (job := p.describe_data_deletion_job(dataDeletionJobArn=job_arn)["dataDeletionJob"])["status"] not in (
        "COMPLETED",
        "FAILED",
    ):
        assert time.monotonic() < deadline, job
        time.sleep(0.02)
    assert job["status"] == "COMPLETED", job.get("failureReason")
    assert job["numDeleted"] == 1
    assert not set(recommend(shop, member, filterArn=only_d)) <= offered_in_d  # her size is forgotten


def test_bad_items_and_users_are_refused_naming_the_record_and_field(shop):
    events = shop.clients.events
    datasets = shop.group.datasets
    cases = [
        (
            events.put_items,
            {"datasetArn": datasets["Items"], "items": [{"itemId": "x", "properties": "{}"}]},
            "items[0]",
            "creationTimestamp",
        ),
        (
            events.put_items,
            {
                "datasetArn": datasets["Items"],
                "items": [{"itemId": "x", "properties": '{"creationTimestamp": 1, "cupTyp": "a"}'}],
            },
            "items[0]",
            "'cupTyp'",
        ),
        (
            events.put_users,
            {"datasetArn": datasets["Users"], "users": [{"userId": "u", "properties": '{"age": "old"}'}]},
            "users[0]",
            "age",
        ),
        (events.put_users, {"datasetArn": datasets["Items"], "users": [{"userId": "u"}]}, "Users", "Items dataset"),
    ]
    for call, kwargs, where, field in cases:
        error = refused(call, **kwargs)
        assert error.response["Error"]["Code"] == "InvalidInputException"
        assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        message = error.response["Error"]["Message"]
        assert where in message, message
        assert field in message, message
    # More than ten records: the model's own limit, refused before anything is read.
    error = refused(events.put_users, datasetArn=datasets["Users"], users=[{"userId": f"u{i}"} for i in range(11)])
    assert error.response["Error"]["Code"] == "ValidationException"
    error = refused(events.put_items, datasetArn=datasets["Items"] + "-gone", items=[{"itemId": "x"}])
    assert error.response["Error"]["Code"] == "ResourceNotFoundException"


def exploring_campaign(shop) -> str:
    p = shop.clients.personalize
    arn = p.create_campaign(
        name=unique("explore"),
        solutionVersionArn=shop.version["solutionVersionArn"],
        campaignConfig={"itemExplorationConfig": {"explorationWeight": "1", "explorationItemAgeCutOff": "5"}},
    )["campaignArn"]
    assert wait_for(lambda: p.describe_campaign(campaignArn=arn)["campaign"])["status"] == "ACTIVE"
    return arn


def test_an_impression_passed_over_is_not_explored_again_and_a_recommendation_id_implies_one(shop, tracking_id):
    runtime, events = shop.clients.runtime, shop.clients.events
    campaign = exploring_campaign(shop)
    new_items = set(shop.new_items)

    def explored(user_id: str) -> set[str]:
        answer = runtime.get_recommendations(campaignArn=campaign, userId=user_id, numResults=20)
        return {entry["itemId"] for entry in answer["itemList"]} & new_items

    shown, control, implied = "u3", "u4", "u5"
    assert explored(shown) == explored(control) == new_items
    clicked = shop.data.items["ITEM_ID"].iloc[0]
    now = time.time()
    # She was shown two new items beside the one she clicked: they are not explored for her again.
    passed_over = sorted(new_items)[:2]
    for user_id, impression in ((shown, [clicked, *passed_over]), (control, None)):
        event = {"eventType": "click", "itemId": clicked, "sentAt": now}
        if impression:
            event["impression"] = impression
        events.put_events(trackingId=tracking_id, userId=user_id, sessionId=unique("s"), eventList=[event])
    assert explored(shown) == new_items - set(passed_over)
    assert explored(control) == new_items

    # An event naming the recommendationId of what she was served: all of that list counts as shown.
    answer = runtime.get_recommendations(campaignArn=campaign, userId=implied, numResults=20)
    listed = [entry["itemId"] for entry in answer["itemList"]]
    assert new_items & set(listed)  # so the implied impression has new items to pass over
    events.put_events(
        trackingId=tracking_id,
        userId=implied,
        sessionId=unique("s"),
        eventList=[
            {"eventType": "click", "itemId": listed[0], "sentAt": now, "recommendationId": answer["recommendationId"]}
        ],
    )
    assert explored(implied) == new_items - set(listed)
