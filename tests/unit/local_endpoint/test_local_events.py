"""How the local endpoint reads a PutEvents event and a PutItems/PutUsers record against the dataset's schema."""

from __future__ import annotations

import json
import time

import pytest

from personalize_local import errors, synthetic
from personalize_local.importer import parse_schema
from personalize_local.records import camel_case, field_key, record_row
from personalize_local.serving import _event_row

INTERACTIONS = {field_key(f.name): f for f in parse_schema(synthetic.schema_text("Interactions"))}
ITEMS = parse_schema(synthetic.schema_text("Items"))
USERS = parse_schema(synthetic.schema_text("Users"))


def row(event: dict, position: int = 0) -> dict[str, str]:
    return _event_row(position, {"eventType": "click", "sentAt": time.time(), **event}, "u1", "s1", INTERACTIONS)


def refusal(call, *args) -> str:
    with pytest.raises(errors.InvalidInputError) as excinfo:
        call(*args)
    return str(excinfo.value)


def test_names_compare_without_underscores_and_case_and_print_in_camel_case():
    assert field_key("NUMBER_OF_RATINGS") == field_key("numberOfRatings") == "numberofratings"
    assert camel_case("NUMBER_OF_RATINGS") == "numberOfRatings"
    assert camel_case("DEVICE") == "device"


def test_an_item_in_properties_is_the_events_item_like_item_id():
    by_property = row({"properties": json.dumps({"itemId": "185"})})
    by_member = row({"itemId": "185"})
    assert by_property["ITEM_ID"] == by_member["ITEM_ID"] == "185"
    assert row({"itemId": "185", "properties": '{"itemId": "185"}'})["ITEM_ID"] == "185"


def test_the_event_value_and_metadata_fields_in_properties_are_kept_under_their_schema_names():
    event = row({"properties": json.dumps({"itemId": "7", "eventValue": "4.5", "device": "mobile"})})
    assert event["EVENT_VALUE"] == "4.5"
    assert json.loads(event["PROPERTIES"]) == {"DEVICE": "mobile"}
    assert row({"eventValue": 3})["EVENT_VALUE"] == "3.0"


def test_impression_and_recommendation_id_are_kept_with_the_event():
    event = row({"itemId": "7", "impression": ["7", "8", "9"], "recommendationId": "RID-1"})
    assert json.loads(event["PROPERTIES"]) == {"IMPRESSION": "7|8|9", "RECOMMENDATION_ID": "RID-1"}


@pytest.mark.parametrize(
    ("event", "named"),
    [
        ({"itemId": "1", "properties": '{"itemId": "2"}'}, "eventList[3]: itemId and properties.itemId"),
        ({"eventValue": 1, "properties": '{"eventValue": 2}'}, "eventList[3]: eventValue and properties.eventValue"),
        ({"properties": '{"colour": "red"}'}, "eventList[3].properties: 'colour' names no field"),
        ({"properties": '{"eventValue": "lots"}'}, "eventList[3].properties.eventValue must be a number (float)"),
        ({"properties": '{"userId": "u2"}'}, "eventList[3].properties may not use the reserved keys"),
        ({"properties": '["itemId"]'}, "eventList[3].properties must be a JSON object string"),
        ({"properties": '{"device": {"os": "x"}}'}, "eventList[3].properties.device must be a string"),
        ({"impression": ["a|b"]}, "eventList[3].impression"),
        ({"metricAttribution": {"eventAttributionSource": "x"}}, "eventList[3].metricAttribution: metric"),
    ],
)
def test_a_bad_event_is_refused_naming_its_position_and_field(event, named):
    assert named in refusal(row, event, 3)


def test_an_item_record_takes_the_schemas_fields_in_camel_case():
    properties = {"creationTimestamp": 1_730_000_000, "cupSize": "B|C", "CUP_TYPE": "plunge"}
    record = record_row("items[0]", {"itemId": "n1", "properties": json.dumps(properties)}, ITEMS, "ITEM_ID", "itemId")
    assert record["ITEM_ID"] == "n1"
    assert record["CREATION_TIMESTAMP"] == "1730000000"
    assert record["CUP_SIZE"] == "B|C"
    assert record["CUP_TYPE"] == "plunge"
    assert record["WIRE"] == ""  # nullable and not given: null


@pytest.mark.parametrize(
    ("record", "named"),
    [
        (
            {"itemId": "n1", "properties": '{"cupSize": "B"}'},
            "items[1].properties: the schema requires creationTimestamp",
        ),
        ({"itemId": "n1", "properties": '{"creationTimestamp": "soon"}'}, "items[1].properties.creationTimestamp must"),
        ({"itemId": "n1", "properties": '{"creationTimestamp": 1, "cup": "B"}'}, "items[1].properties: 'cup' names no"),
        ({"itemId": "n1", "properties": '{"creationTimestamp": 1, "itemId": "n2"}'}, "'itemId' the ITEM_ID is"),
        ({"itemId": "n1", "properties": "not json"}, "items[1].properties must be a JSON object string"),
        ({"itemId": "n1", "properties": '{"creationTimestamp": 1e30}'}, "creationTimestamp does not fit a 64-bit long"),
        (
            {"itemId": "n1", "properties": json.dumps({"creationTimestamp": 1, "wire": "x" * 1001})},
            "items[1].properties.wire: a categorical value is at most 1000",
        ),
    ],
)
def test_a_bad_item_is_refused_naming_its_position_and_field(record, named):
    assert named in refusal(record_row, "items[1]", record, ITEMS, "ITEM_ID", "itemId")


def test_a_user_record_checks_types_against_the_users_schema():
    record = record_row(
        "users[0]", {"userId": "m1", "properties": '{"cupSize": "D", "age": "31"}'}, USERS, "USER_ID", "userId"
    )
    assert (record["USER_ID"], record["CUP_SIZE"], record["AGE"]) == ("m1", "D", "31")
    named = "users[0].properties.age must be a number (int) for AGE"
    assert named in refusal(
        record_row, "users[0]", {"userId": "m1", "properties": '{"age": 3.5}'}, USERS, "USER_ID", "userId"
    )


def test_records_overlay_the_bulk_data_survive_a_torn_append_and_go_with_a_deletion(tmp_path):
    import pandas as pd

    from personalize_local.state import StateStore

    arn = "arn:aws:personalize:us-east-1:123456789012:dataset/g/USERS"
    store = StateStore(tmp_path)
    store.write_bulk(arn, pd.DataFrame({"USER_ID": ["m1", "m2"], "CUP_SIZE": ["A", "B"]}))
    store.append_records(arn, [{"USER_ID": "m1", "CUP_SIZE": "D"}, {"USER_ID": "m3", "CUP_SIZE": "C"}])
    store.append_records(arn, [{"USER_ID": "m1", "CUP_SIZE": "E"}])
    current = store.read_current(arn, "USER_ID").set_index("USER_ID")["CUP_SIZE"].to_dict()
    assert current == {"m1": "E", "m2": "B", "m3": "C"}
    assert store.read_bulk(arn)["CUP_SIZE"].tolist() == ["A", "B"]  # a FULL import replaces only this

    path = store.dataset_dir(arn) / "records.jsonl"
    with path.open("ab") as handle:
        handle.write(b'{"USER_ID": "m4", "CUP')  # a crash in the middle of an append
    restarted = StateStore(tmp_path)
    assert restarted.read_current(arn, "USER_ID")["USER_ID"].tolist() == ["m2", "m3", "m1"]

    assert restarted.remove_records(arn, "USER_ID", {"m1"}) == 2
    assert restarted.read_current(arn, "USER_ID").set_index("USER_ID")["CUP_SIZE"].to_dict() == {
        "m1": "A",
        "m2": "B",
        "m3": "C",
    }


def test_a_history_rebuilt_from_the_events_file_keeps_what_each_user_was_shown():
    import pandas as pd

    from personalize_local.recommender import build_history

    rows = [
        row({"itemId": "p1", "impression": ["p1", "p2", "p3"]}),
        row({"itemId": "p3"}),
        {**row({"properties": '{"itemId": "p9"}'}), "USER_ID": "u2", "SESSION_ID": "s2"},
    ]
    history = build_history(None, pd.DataFrame(rows, dtype="str"))
    assert history.ignored("u1") == history.ignored("s1") == {"p2"}  # shown, and never interacted with
    assert history.ignored("u2") == set()
    assert [item for item, _, _ in history.get("u2")] == ["p9"]
