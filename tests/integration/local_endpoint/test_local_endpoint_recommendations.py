"""What the local endpoint recommends: size structure, cold users, filters, exploration, streamed events."""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError

from personalize_local import synthetic

from .conftest import create_filter, import_csv, recommend, train_version, unique, wait_for

SIZE_FILTER = "INCLUDE ItemID WHERE Items.CUP_SIZE IN ($CUP) AND Items.BAND_SIZE IN ($BAND)"
NOT_PURCHASED_FILTER = 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")'


def sizes_of(shop, user_id: str) -> tuple[str, str]:
    row = shop.data.users.set_index("USER_ID").loc[user_id]
    return row["CUP_SIZE"], row["BAND_SIZE"]


def test_the_model_learns_the_size_structure(shop):
    users = shop.data.interactions["USER_ID"].value_counts()
    members = users[users >= 10].index[:40]
    shares = []
    for user_id in members:
        fitting = synthetic.fits_size(shop.data.items, *sizes_of(shop, user_id))
        items = recommend(shop, user_id, numResults=10)
        shares.append(sum(item in fitting for item in items) / len(items))
    catalog_share = sum(
        len(synthetic.fits_size(shop.data.items, *sizes_of(shop, user_id))) / len(shop.data.items)
        for user_id in members
    ) / len(members)
    mean_share = sum(shares) / len(shares)
    # Members get mostly items in their size, far more than a random pick from the catalog would give.
    assert mean_share >= 0.75, (mean_share, catalog_share)
    assert mean_share >= catalog_share + 0.25


def test_a_member_without_history_gets_popular_items_in_her_size(shop, s3_server):
    import pandas as pd

    newcomer = pd.DataFrame({"USER_ID": ["newcomer"], "AGE": [""], "CUP_SIZE": ["B"], "BAND_SIZE": ["75"]}, dtype="str")
    location = s3_server.put_csv(f"{unique('users')}/users.csv", synthetic.to_csv(newcomer))
    job = import_csv(shop.clients, shop.group.datasets["Users"], location, mode="INCREMENTAL")
    assert job["status"] == "ACTIVE", job.get("failureReason")
    fitting = synthetic.fits_size(shop.data.items, "B", "75")
    items = recommend(shop, "newcomer", numResults=10)
    assert len(items) == 10
    assert set(items) <= fitting
    # Someone we know nothing about gets plain popularity, which is not all in that size.
    anonymous = recommend(shop, "someone-unknown", numResults=25)
    assert not set(anonymous) <= fitting


def test_size_filter_keeps_only_items_in_the_given_sizes(shop):
    filter_arn = create_filter(shop, SIZE_FILTER)
    for user_id in ("u1", "u2", "u5"):
        cup, band = sizes_of(shop, user_id)
        items = recommend(
            shop, user_id, numResults=15, filterArn=filter_arn, filterValues={"CUP": f'"{cup}"', "BAND": f'"{band}"'}
        )
        assert len(items) == 15
        assert set(items) <= synthetic.fits_size(shop.data.items, cup, band)
    # Several values, and multi-valued item fields: an item matches when any of its sizes is in the set.
    either = recommend(shop, "u1", numResults=50, filterArn=filter_arn, filterValues={"CUP": '"A","D"', "BAND": '"70"'})
    allowed = synthetic.fits_size(shop.data.items, "A", "70") | synthetic.fits_size(shop.data.items, "D", "70")
    assert either
    assert set(either) <= allowed
    # A placeholder without a value leaves its condition out, as the service does.
    only_band = recommend(shop, "u1", numResults=50, filterArn=filter_arn, filterValues={"BAND": '"85"'})
    bands = shop.data.items.set_index("ITEM_ID")["BAND_SIZE"]
    assert only_band
    assert all("85" in bands[item].split("|") for item in only_band)


def test_exclude_filter_drops_what_the_member_purchased(shop):
    filter_arn = create_filter(shop, NOT_PURCHASED_FILTER)
    purchases = shop.data.interactions[shop.data.interactions["EVENT_TYPE"] == "purchase"]
    heavy = purchases["USER_ID"].value_counts().index[:5]
    saw_purchase_unfiltered = False
    for user_id in heavy:
        bought = set(purchases.loc[purchases["USER_ID"] == user_id, "ITEM_ID"])
        unfiltered = recommend(shop, user_id, numResults=25)
        saw_purchase_unfiltered |= bool(bought & set(unfiltered))
        filtered = recommend(shop, user_id, numResults=25, filterArn=filter_arn)
        assert len(filtered) == 25
        assert not bought & set(filtered)
    assert saw_purchase_unfiltered  # so the filter had something to remove


def test_filters_with_unknown_syntax_or_fields_are_invalid_input(shop):
    p = shop.clients.personalize
    for expression in (
        "INCLUDE ItemID WHERE Items.NO_SUCH_FIELD IN ($X)",
        'EXCLUDE ItemID WHERE Users.AGE IN ("30")',
        "INCLUDE ItemID WHERE Items.CUP_SIZE IN ($CUP",
        'INCLUDE ItemID WHERE Items.CUP_SIZE LIKE "B%"',
    ):
        with pytest.raises(ClientError) as excinfo:
            p.create_filter(name=unique("bad"), datasetGroupArn=shop.group.arn, filterExpression=expression)
        assert excinfo.value.response["Error"]["Code"] == "InvalidInputException", expression


def test_exploration_surfaces_new_items_only_when_the_campaign_asks(shop):
    p = shop.clients.personalize
    exploring = p.create_campaign(
        name=unique("explore"),
        solutionVersionArn=shop.version["solutionVersionArn"],
        campaignConfig={"itemExplorationConfig": {"explorationWeight": "1", "explorationItemAgeCutOff": "5"}},
    )["campaignArn"]
    assert wait_for(lambda: p.describe_campaign(campaignArn=exploring)["campaign"])["status"] == "ACTIVE"
    new_items = set(shop.new_items)
    for user_id in ("u1", "u7", "u9"):
        explored = recommend(shop, user_id, campaign_arn=exploring, numResults=20)
        assert len(explored) == 20
        assert new_items & set(explored)
        assert not new_items & set(recommend(shop, user_id, numResults=20))
    with pytest.raises(ClientError) as excinfo:
        p.create_campaign(
            name=unique("bad"),
            solutionVersionArn=shop.version["solutionVersionArn"],
            campaignConfig={"itemExplorationConfig": {"explorationWeight": "1.5"}},
        )
    assert excinfo.value.response["Error"]["Code"] == "InvalidInputException"


def test_put_events_update_recommendations_and_join_sessions_at_the_next_full_training(shop):
    p, events = shop.clients.personalize, shop.clients.events
    tracker = p.create_event_tracker(name=unique("tracker"), datasetGroupArn=shop.group.arn)
    assert (
        wait_for(lambda: p.describe_event_tracker(eventTrackerArn=tracker["eventTrackerArn"])["eventTracker"])["status"]
        == "ACTIVE"
    )
    with pytest.raises(ClientError) as excinfo:
        p.create_event_tracker(name=unique("second"), datasetGroupArn=shop.group.arn)
    assert excinfo.value.response["Error"]["Code"] == "ResourceAlreadyExistsException"

    # An anonymous visitor browses items in one size only.
    fitting = sorted(synthetic.fits_size(shop.data.items, "D", "85") - set(shop.new_items))
    now = time.time()
    session = unique("session")
    for start in range(0, 20, 10):
        events.put_events(
            trackingId=tracker["trackingId"],
            sessionId=session,
            eventList=[
                {"eventType": "click", "itemId": item, "sentAt": now + i, "eventId": unique("e")}
                for i, item in enumerate(fitting[start : start + 10])
            ],
        )
    # In real time the session id works as a user id, and the session's clicks shape the list.
    as_session = recommend(shop, session, numResults=10)
    assert sum(item in fitting for item in as_session) >= 7
    # The member logs in: one event carrying both ids links the session to her.
    member = unique("member")
    events.put_events(
        trackingId=tracker["trackingId"],
        sessionId=session,
        userId=member,
        eventList=[{"eventType": "login", "sentAt": now + 30}],
    )
    stranger = recommend(shop, unique("stranger"), numResults=10)
    assert recommend(shop, member, numResults=10) == stranger  # not joined before training
    version = train_version(shop.clients, shop.solution_arn)
    assert version["status"] == "ACTIVE", version.get("failureReason")
    p.update_campaign(campaignArn=shop.campaign_arn, solutionVersionArn=version["solutionVersionArn"])
    wait_for(lambda: p.describe_campaign(campaignArn=shop.campaign_arn)["campaign"]["latestCampaignUpdate"])
    joined = recommend(shop, member, numResults=10)
    assert joined != stranger
    assert sum(item in fitting for item in joined) >= 7

    with pytest.raises(ClientError) as excinfo:
        events.put_events(
            trackingId=tracker["trackingId"],
            sessionId=session,
            eventList=[{"eventType": "click", "itemId": "p1", "sentAt": now, "properties": '{"userId": "x"}'}],
        )
    assert excinfo.value.response["Error"]["Code"] == "InvalidInputException"
    with pytest.raises(ClientError) as excinfo:
        events.put_events(
            trackingId="no-such-tracker", sessionId=session, eventList=[{"eventType": "click", "sentAt": now}]
        )
    assert excinfo.value.response["Error"]["Code"] == "ResourceNotFoundException"
