"""What the CRM batch jobs read and what the marketing team gets (pulla_personalize.crm): inputs in the service's
format, outputs read strictly, and the audiences built from them."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime

import pandas as pd
import pytest

from pulla_personalize.crm import (
    AUDIENCE_COLUMNS,
    PICKS_COLUMNS,
    WITHDRAWN_REASON,
    BatchInput,
    BatchOutputError,
    DatasetError,
    SegmentOutput,
    SegmentSelectionError,
    active_member_ids,
    audience_rows,
    csv_bytes,
    evaluation_input,
    evaluation_sample,
    picks_input,
    picks_rows,
    read_inference_output,
    read_segment_output,
    segment_input,
    select_segment_items,
)

SIZE_FILTER = {"CUP_SIZE": "CUP_SIZE", "BAND_SIZE": "BAND_SIZE"}
OUT = "s3://pulla-crm/picks/20261127/members.json.out"


def frame(columns: str, *rows: tuple[str, ...]) -> pd.DataFrame:
    """A frame as the export's CSVs read with dtype=str: every cell text, an empty cell "" ."""
    return pd.DataFrame(list(rows), columns=columns.split(), dtype=str)


USERS = frame(
    "USER_ID AGE CUP_SIZE BAND_SIZE",
    ("1", "30", "B", "75"),
    ("2", "41", "C", ""),  # no band
    ("3", "25", "", " | "),  # no size at all (a lone separator is no value)
    ("4", "35", 'B"', "80"),  # a value the quoted filter list cannot carry
    ("10", "28", "A|B", "70"),  # between two cups: a multi-value
)

INTERACTIONS = frame(
    "USER_ID ITEM_ID EVENT_TYPE TIMESTAMP",
    ("1", "100", "click", "1000"),
    ("2", "100", "purchase", "2000"),
    ("2", "101", "click", "999"),
    ("3", "102", "click", "1999"),
    ("", "103", "click", "5000"),  # no member: never anyone's activity
)


def test_body_is_utf8_one_line_each_with_a_newline() -> None:
    assert (
        BatchInput(['{"userId": "1"}', '{"userId": "회원"}']).body() == '{"userId": "1"}\n{"userId": "회원"}\n'.encode()
    )
    assert BatchInput([]).body() == b""


def test_active_members_are_those_with_an_interaction_at_or_after_the_bound() -> None:
    assert active_member_ids(INTERACTIONS, since_epoch=2000) == {"2"}
    assert active_member_ids(INTERACTIONS, since_epoch=1999) == {"2", "3"}
    assert active_member_ids(INTERACTIONS, since_epoch=1000) == {"1", "2", "3"}
    assert active_member_ids(INTERACTIONS, since_epoch=5001) == set()


def test_active_members_refuse_a_timestamp_that_is_not_epoch_seconds() -> None:
    broken = INTERACTIONS.copy()
    broken.loc[1, "TIMESTAMP"] = "yesterday"
    # Row 1 of the frame is line 3 of the CSV (the header is line 1).
    with pytest.raises(DatasetError, match=r"interactions: line 3: TIMESTAMP 'yesterday' is not epoch seconds"):
        active_member_ids(broken, since_epoch=0)
    with pytest.raises(DatasetError, match=r"interactions: no TIMESTAMP column"):
        active_member_ids(INTERACTIONS.drop(columns="TIMESTAMP"), since_epoch=0)


def test_picks_input_carries_each_members_sizes_and_leaves_out_who_the_filter_cannot_serve() -> None:
    batch = picks_input(USERS, ["4", "1", "2", "3", "10", "99", "1", " "], filter_placeholders=SIZE_FILTER)
    # Sorted as text: "1" < "10" < "2" < "3" < "4" < "99"; the duplicate and the blank id are dropped.
    assert batch.lines == [
        r'{"userId": "1", "filterValues": {"CUP_SIZE": "\"B\"", "BAND_SIZE": "\"75\""}}',
        r'{"userId": "10", "filterValues": {"CUP_SIZE": "\"A\",\"B\"", "BAND_SIZE": "\"70\""}}',
    ]
    assert batch.unserved == [
        {"member_id": "2", "reason": "no BAND_SIZE on record: the job's filter needs it"},
        {"member_id": "3", "reason": "no CUP_SIZE and BAND_SIZE on record: the job's filter needs it"},
        {
            "member_id": "4",
            "reason": "CUP_SIZE 'B\"' holds a double quote or a comma, which a filter value cannot carry",
        },
        {"member_id": "99", "reason": WITHDRAWN_REASON},
    ]
    # Each line is the JSON object the service reads.
    assert json.loads(batch.lines[1])["filterValues"]["CUP_SIZE"] == '"A","B"'


def test_picks_input_without_a_filter_sends_only_the_member_and_keeps_korean_unescaped() -> None:
    users = frame("USER_ID CUP_SIZE BAND_SIZE", ("3", "", ""), ("7", "프리", "75"))
    assert picks_input(users, ["7", "3"], filter_placeholders=None).lines == ['{"userId": "3"}', '{"userId": "7"}']
    sized = picks_input(users, ["7"], filter_placeholders={"CUP_SIZE": "CUP_SIZE"})
    assert sized.lines == ['{"userId": "7", "filterValues": {"CUP_SIZE": "\\"프리\\""}}']


def test_picks_input_refuses_users_without_the_filters_column_or_with_a_member_twice() -> None:
    with pytest.raises(DatasetError, match=r"users: no BAND_SIZE column"):
        picks_input(USERS.drop(columns="BAND_SIZE"), ["1"], filter_placeholders=SIZE_FILTER)
    twice = pd.concat([USERS, USERS.iloc[[0]]], ignore_index=True)
    with pytest.raises(DatasetError, match=r"users: USER_ID '1' appears more than once"):
        picks_input(twice, ["1"], filter_placeholders=SIZE_FILTER)


def _members_frame(ids: list[str]) -> pd.DataFrame:
    return frame("USER_ID ITEM_ID EVENT_TYPE TIMESTAMP", *[(member, "1", "click", "1") for member in ids])


def _hash_order(ids: list[str], salt: str = "pulla-evaluation") -> list[str]:
    return sorted(ids, key=lambda member: hashlib.sha256(f"{salt}:{member}".encode()).hexdigest())


def test_the_evaluation_sample_is_the_first_members_in_hash_order_whatever_the_row_order() -> None:
    ids = [str(number) for number in range(1, 201)]
    interactions = _members_frame(ids + ids[:50])  # members with several interactions count once
    sample = evaluation_sample(interactions, 10)
    assert sample == sorted(_hash_order(ids)[:10])
    assert len(sample) == 10
    shuffled = interactions.sample(frac=1, random_state=7).reset_index(drop=True)
    assert evaluation_sample(shuffled, 10) == sample
    assert evaluation_sample(interactions, 10, salt="another") != sample
    # Fewer members than asked: every one of them.
    assert evaluation_sample(_members_frame(["5", "", "3"]), 10) == ["3", "5"]


def test_a_new_member_changes_the_evaluation_sample_by_at_most_one() -> None:
    ids = [str(number) for number in range(1, 201)]
    before = set(evaluation_sample(_members_frame(ids), 10))
    entered = 0
    for newcomer in range(1000, 1100):
        after = set(evaluation_sample(_members_frame([*ids, str(newcomer)]), 10))
        assert len(after - before) <= 1
        assert len(before - after) <= 1
        entered += after != before
    assert entered > 0  # else the loop proved nothing


@pytest.mark.parametrize("size", [0, -3, 2.5, True])
def test_the_evaluation_sample_needs_a_size_of_at_least_one(size: object) -> None:
    with pytest.raises(ValueError, match=r"evaluation sample size must be a whole number of at least 1"):
        evaluation_sample(INTERACTIONS, size)  # type: ignore[arg-type]


def test_the_evaluation_input_has_no_filter_values() -> None:
    batch = evaluation_input(["3", "1", "1", ""])
    assert batch.lines == ['{"userId": "1"}', '{"userId": "3"}']
    assert batch.unserved == []


INFERENCE_OUT = "\n".join(
    [
        '{"input":{"userId":"4638"},"output":{"recommendedItems":["63992","2"],"scores":[0.0152,0.01]},"error":null}',
        "",
        '{"input":{"userId":"7"},"output":null,"error":"User not found"}',
        '{"input":"not an object","output":null,"error":"Invalid input"}',
    ]
)


def test_inference_output_gives_ranked_items_and_the_members_the_service_could_not_serve() -> None:
    output = read_inference_output(INFERENCE_OUT, source=OUT)
    assert output.recommendations == {"4638": [("63992", 0.0152), ("2", 0.01)]}
    assert output.unserved == [
        {"member_id": "7", "reason": "User not found"},
        {"member_id": "", "reason": "Invalid input"},
    ]


GOOD_LINE = '{"input":{"userId":"4638"},"output":{"recommendedItems":["1"],"scores":[0.5]},"error":null}'


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"input": {"userId": "1"}', "not JSON"),
        ("[1, 2]", "not a batch output object with input and output"),
        ('{"input": {"userId": "1"}}', "not a batch output object with input and output"),
        ('{"input": {"userId": "1"}, "output": null, "error": null}', "needs either an output or an error"),
        ('{"input": {"userId": "1"}, "output": {"recommendedItems": []}, "error": "x"}', "needs either an output"),
        ('{"input": {"userId": "1"}, "output": [], "error": null}', "output is not an object"),
        ('{"input": {"userId": "1"}, "output": {"recommendedItems": "5", "scores": [1]}}', "recommendedItems is not"),
        ('{"input": {"userId": "1"}, "output": {"recommendedItems": ["5", "6"], "scores": [1]}}', "scores is not one"),
        ('{"input": {"userId": "1"}, "output": {"recommendedItems": ["5"], "scores": ["1"]}}', "scores is not one"),
        ('{"input": {"userId": "1"}, "output": {"recommendedItems": ["5"]}}', "scores is not one number"),
        ('{"input": {}, "output": {"recommendedItems": [], "scores": []}}', "an output without an input userId"),
        (GOOD_LINE, r"userId '4638' again \(first on line 1\)"),
    ],
)
def test_a_malformed_inference_line_names_the_file_and_the_line(line: str, message: str) -> None:
    with pytest.raises(BatchOutputError, match=rf"s3://pulla-crm/picks/20261127/members\.json\.out: line 2: {message}"):
        read_inference_output(f"{GOOD_LINE}\n{line}\n", source=OUT)


def test_picks_round_trip_from_input_lines_to_the_marketing_csv() -> None:
    batch = picks_input(USERS, ["10", "1", "2"], filter_placeholders=SIZE_FILTER)
    # What the service writes: one line per input line, in its compact JSON, member 10 failing.
    served = {"1": (["i9", "i3"], [0.5, 0.25]), "10": None}
    out_lines = []
    for line in batch.lines:
        member = json.loads(line)["userId"]
        if served[member] is None:
            out_lines.append(json.dumps({"input": json.loads(line), "output": None, "error": "Filter failed"}))
        else:
            items, scores = served[member]
            out = {"recommendedItems": items, "scores": scores}
            out_lines.append(
                json.dumps({"input": json.loads(line), "output": out, "error": None}, separators=(",", ":"))
            )
    output = read_inference_output("\n".join(out_lines) + "\n", source=OUT)
    assert output.unserved == [{"member_id": "10", "reason": "Filter failed"}]
    rows = picks_rows(output)
    assert rows == [
        {"member_id": "1", "rank": 1, "item_id": "i9", "score": 0.5},
        {"member_id": "1", "rank": 2, "item_id": "i3", "score": 0.25},
    ]
    assert csv_bytes(rows, PICKS_COLUMNS) == b"member_id,rank,item_id,score\n1,1,i9,0.5\n1,2,i3,0.25\n"
    # Member 2 (no band) never reached the service: the unserved of the input say why.
    assert [entry["member_id"] for entry in batch.unserved] == ["2"]


def test_picks_rows_are_by_member_then_rank() -> None:
    output = read_inference_output(
        '{"input":{"userId":"9"},"output":{"recommendedItems":["a"],"scores":[0.3]},"error":null}\n'
        '{"input":{"userId":"10"},"output":{"recommendedItems":["b","c"],"scores":[0.2,0.1]},"error":null}\n',
        source=OUT,
    )
    assert [(row["member_id"], row["rank"], row["item_id"]) for row in picks_rows(output)] == [
        ("10", 1, "b"),
        ("10", 2, "c"),
        ("9", 1, "a"),
    ]


def test_csv_bytes_quotes_only_what_must_be_and_refuses_an_unknown_column() -> None:
    assert csv_bytes([{"a": "x,y", "b": "브라"}], ["a", "b"]) == 'a,b\n"x,y",브라\n'.encode()
    with pytest.raises(ValueError, match=r"fields not in fieldnames"):
        csv_bytes([{"a": 1, "c": 2}], ["a", "b"])


def seoul_epoch(year: int, month: int, day: int, hour: int, minute: int) -> str:
    """Epoch seconds of a Seoul wall-clock time (UTC+9, no daylight saving)."""
    return str(int(datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp()) - 9 * 3600)


ITEMS = frame(
    "ITEM_ID CREATION_TIMESTAMP CUP_SIZE BAND_SIZE WIRE CUP_TYPE",
    ("101", seoul_epoch(2026, 11, 1, 0, 30), "A|B", "70|75", "wire", "Full"),  # 31 Oct in UTC
    ("102", seoul_epoch(2026, 11, 30, 23, 59), "B", "75", "wireless", "full "),
    ("103", seoul_epoch(2026, 12, 1, 0, 0), "C", "80", "wire", "Full"),  # 30 Nov in UTC
    ("104", seoul_epoch(2026, 10, 31, 23, 59), "B", "75", "wire", "Demi"),
    ("105", "", "", "", "wireless", "Full"),  # no creation time: never in a date range
)


@pytest.mark.parametrize(
    ("criteria", "expected"),
    [
        ({"cup_type": "FULL"}, ["101", "102", "103", "105"]),
        ({"cup_type": "full", "wire": "WIRE"}, ["101", "103"]),
        ({"registered_from": date(2026, 11, 1), "registered_to": date(2026, 11, 30)}, ["101", "102"]),
        (
            {"registered_from": date(2026, 11, 1), "registered_to": date(2026, 11, 30), "time_zone": "UTC"},
            ["102", "103"],
        ),
        ({"registered_from": date(2026, 12, 1)}, ["103"]),
        ({"registered_to": date(2026, 10, 31)}, ["104"]),
        (
            {"cup_type": "Full", "registered_from": date(2026, 11, 1), "registered_to": date(2026, 11, 30)},
            ["101", "102"],
        ),
        ({"item_ids": ["104", "101", "101"]}, ["101", "104"]),
    ],
)
def test_segment_items_are_the_ids_given_or_every_item_of_the_product_line(criteria: dict, expected: list) -> None:
    assert select_segment_items(ITEMS, **criteria) == expected


@pytest.mark.parametrize(
    ("criteria", "message"),
    [
        ({}, r"name the items: item_ids, or at least one of cup_type"),
        ({"item_ids": ["101"], "wire": "wire"}, r"give either item_ids or product-line criteria"),
        ({"item_ids": "101"}, r"item_ids must be a list of item ids"),
        ({"item_ids": ["101", "999", "998"]}, r"^2 item id\(s\) not in the Items dataset: '998', '999'$"),
        (
            {"item_ids": [str(number) for number in range(900, 912)]},
            r"^12 item id\(s\) not in the Items dataset: '900', .*, '909' and 2 more$",
        ),
        ({"cup_type": "Plunge"}, r"cup_type='Plunge' matched nothing \(existing: Demi, Full, full\)"),
        (
            {"cup_type": "Demi", "wire": "wireless"},
            r"no item matches all of them \(cup_type='Demi' matches 1, wire='wireless' matches 2\)",
        ),
        (
            {"wire": "wireless", "registered_from": date(2027, 1, 1)},
            r"registered 2027-01-01\.\.… matched nothing \(existing: items were registered 2026-10-31\.\.2026-12-01\)$",
        ),
        ({"registered_from": date(2026, 12, 2), "registered_to": date(2026, 12, 1)}, r"2026-12-02 is after"),
        ({"registered_from": date(2026, 12, 1), "time_zone": "Mars/Olympus"}, r"unknown time zone 'Mars/Olympus'"),
    ],
)
def test_a_segment_selection_that_makes_no_job_says_what_to_change(criteria: dict, message: str) -> None:
    with pytest.raises(SegmentSelectionError, match=message):
        select_segment_items(ITEMS, **criteria)


def test_a_product_line_above_500_items_is_refused_with_its_size() -> None:
    many = frame("ITEM_ID CUP_TYPE", *[(str(number), "Full") for number in range(501)])
    with pytest.raises(SegmentSelectionError, match=r"^501 items selected: an Item-Affinity job takes at most 500"):
        select_segment_items(many, cup_type="full")
    assert len(select_segment_items(many.iloc[:500], cup_type="full")) == 500


def test_a_creation_time_that_is_not_epoch_seconds_names_its_line() -> None:
    broken = ITEMS.copy()
    broken.loc[2, "CREATION_TIMESTAMP"] = "soon"
    with pytest.raises(DatasetError, match=r"items: line 4: CREATION_TIMESTAMP 'soon' is not epoch seconds"):
        select_segment_items(broken, registered_from=date(2026, 11, 1))
    with pytest.raises(DatasetError, match=r"items: no WIRE column"):
        select_segment_items(ITEMS.drop(columns="WIRE"), wire="wire")


def test_segment_input_is_one_item_a_line() -> None:
    assert segment_input(["105", "2", "105"]).lines == ['{"itemId": "105"}', '{"itemId": "2"}']
    with pytest.raises(SegmentSelectionError, match=r"at least one item"):
        segment_input([" "])
    with pytest.raises(SegmentSelectionError, match=r"501 items: an Item-Affinity job takes at most 500"):
        segment_input(str(number) for number in range(501))


SEGMENT_SOURCE = "s3://pulla-crm/segments/line-7/items.json.out"
SEGMENT_OUT = "\n".join(
    [
        '{"input": {"itemId": "105"}, "output": {"recommendedUsers": ["106", "107", "49"]}}',
        '{"input": {"itemId": "106"}, "output": {"recommendedUsers": ["49", "108"]}}',
        '{"input": {"itemId": "107"}, "output": null, "error": "Item not found"}',
        "",
        '{"input": {"itemId": "108"}, "output": {"recommendedUsers": ["107", "106", "110"]}}',
        '{"input": {"itemId": "109"}, "output": {"recommendedUsers": ["49"]}}',
    ]
)


def test_segment_output_gives_each_items_members_and_the_failed_items() -> None:
    output = read_segment_output(SEGMENT_OUT, source=SEGMENT_SOURCE)
    assert output.users_by_item == {
        "105": ["106", "107", "49"],
        "106": ["49", "108"],
        "108": ["107", "106", "110"],
        "109": ["49"],
    }
    assert output.failed_items == [{"item_id": "107", "reason": "Item not found"}]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", "not JSON"),
        ('{"input": {"itemId": "2"}, "output": {"recommendedUsers": [1, 2]}}', "recommendedUsers is not a list"),
        ('{"input": {"itemId": "2"}, "output": {}}', "recommendedUsers is not a list"),
        ('{"input": {"itemId": "105"}, "output": {"recommendedUsers": []}}', r"itemId '105' again"),
    ],
)
def test_a_malformed_segment_line_names_the_file_and_the_line(line: str, message: str) -> None:
    first = '{"input": {"itemId": "105"}, "output": {"recommendedUsers": ["1"]}}'
    with pytest.raises(BatchOutputError, match=rf"^s3://pulla-crm/segments/line-7/items\.json\.out: line 2: {message}"):
        read_segment_output(f"{first}\n{line}", source=SEGMENT_SOURCE)


def test_the_audience_ranks_members_by_best_rank_then_items_listing_her_then_id() -> None:
    output = read_segment_output(SEGMENT_OUT, source=SEGMENT_SOURCE)
    # Best ranks: 49 is 1st for 106 and 109 (3 items list her), 106 is 1st for 105 and 107 1st for 108 (2 items
    # each: the lower id first), 108 is 2nd at best, 110 3rd.
    rows = audience_rows(output, size=10)
    assert rows == [
        {"member_id": "49", "rank": 1, "best_item_id": "106", "items_listing_her": 3},
        {"member_id": "106", "rank": 2, "best_item_id": "105", "items_listing_her": 2},
        {"member_id": "107", "rank": 3, "best_item_id": "108", "items_listing_her": 2},
        {"member_id": "108", "rank": 4, "best_item_id": "106", "items_listing_her": 1},
        {"member_id": "110", "rank": 5, "best_item_id": "108", "items_listing_her": 1},
    ]
    assert audience_rows(output, size=2) == rows[:2]
    assert csv_bytes(audience_rows(output, size=1), AUDIENCE_COLUMNS) == (
        b"member_id,rank,best_item_id,items_listing_her\n49,1,106,3\n"
    )
    assert audience_rows(SegmentOutput({}, []), size=5) == []
    with pytest.raises(ValueError, match=r"audience size must be a whole number of at least 1, got 0"):
        audience_rows(output, size=0)
