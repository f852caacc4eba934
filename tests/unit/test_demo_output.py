"""What `make demo` prints for a shop owner: Seoul days, named counts, members the size filter changes, rules."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

import pytest

from pulla_dev import demo
from pulla_personalize.business_rules import BusinessRule

SEOUL = ZoneInfo("Asia/Seoul")


def member(user_id: str, cup: str, band: str) -> dict[str, str]:
    return {"USER_ID": user_id, "AGE": "30", "CUP_SIZE": cup, "BAND_SIZE": band}


def item(item_id: str, cups: str, bands: str) -> dict[str, str]:
    return {"ITEM_ID": item_id, "CUP_SIZE": cups, "BAND_SIZE": bands, "CUP_TYPE": "full"}


def test_a_window_of_utc_instants_reads_as_seoul_days() -> None:
    window = {"start": "2026-10-01T15:00:00+00:00", "end": "2026-10-31T15:00:00+00:00", "label": "x"}

    assert demo.seoul_days(window, SEOUL) == (
        date(2026, 10, 2),
        date(2026, 10, 31),
        30,
    )


def test_an_item_fits_when_it_comes_in_her_cup_and_band_and_a_sizeless_item_fits_everyone() -> None:
    her = member("1", "B", "75")

    assert demo.in_her_size(her, item("a", "A|B|C", "70|75"))
    assert not demo.in_her_size(her, item("b", "A|C", "70|75"))
    assert not demo.in_her_size(her, item("c", "B", "70|80"))
    assert not demo.in_her_size(her, item("d", "BB", "75"))  # "B" is a whole value, not a prefix
    assert demo.in_her_size(her, item("e", "", ""))


def catalogue() -> dict[str, dict[str, str]]:
    # Five items in every size, and five that come only in cup AA, band 60.
    everyone = {f"f{n}": item(f"f{n}", "A|B|C|D", "70|75|80|85") for n in range(5)}
    narrow = {f"n{n}": item(f"n{n}", "AA", "60") for n in range(5)}
    return {**everyone, **narrow}


def test_members_are_chosen_where_the_size_filter_changes_something_with_different_sizes() -> None:
    items = catalogue()
    users = [member("u1", "B", "75"), member("u2", "C", "80"), member("u3", "B", "80"), member("u4", "D", "85")]
    interactions = [{"USER_ID": user} for user in ("u1", "u1", "u1", "u1", "u2", "u2", "u2", "u3", "u3", "u4")]
    # u1, the most active, gets only items in her size: showing her would show a filter that changes nothing.
    lists = {
        "u1": ["f0", "f1", "f2", "f3", "f4", "n0"],
        "u2": ["n0", "f0", "f1", "f2", "f3", "f4"],
        "u3": ["f0", "n1", "f1", "f2", "f3", "f4"],
        "u4": ["f0", "f1", "f2", "f3", "n2", "f4"],
    }
    asked: list[str] = []

    def top_picks(user: dict[str, str]) -> list[str]:
        asked.append(user["USER_ID"])
        return lists[user["USER_ID"]]

    chosen = demo.choose_members(users, interactions, items, top_picks, wanted=2)

    # u3 shares u2's band: a second 80 would show nothing new, so u4 comes next.
    assert [user["USER_ID"] for user, _ in chosen] == ["u2", "u4"]
    assert chosen[0][1] == lists["u2"]
    assert "u3" not in asked


def test_members_whose_lists_the_filter_does_not_change_fill_in_when_no_others_are_found() -> None:
    items = catalogue()
    users = [member("u1", "B", "75"), member("u2", "C", "80")]
    all_fit = ["f0", "f1", "f2", "f3", "f4"]

    chosen = demo.choose_members(users, [], items, lambda user: all_fit, wanted=3)

    assert [user["USER_ID"] for user, _ in chosen] == ["u1", "u2"]


def test_members_without_a_size_or_with_too_few_items_in_theirs_are_never_asked() -> None:
    items = catalogue()
    users = [member("nosize", "", "75"), member("rare", "G", "100"), member("u1", "B", "75")]
    asked: list[str] = []

    def top_picks(user: dict[str, str]) -> list[str]:
        asked.append(user["USER_ID"])
        return ["n0", "f0"]

    demo.choose_members(users, [], items, top_picks)

    assert asked == ["u1"]


def test_business_rules_read_as_words() -> None:
    assert demo.rule_text(BusinessRule(at_least=0.85, max_drop=0.02)) == (
        "at least 0.85, at most 0.02 below the live version"
    )
    assert demo.rule_text(BusinessRule(at_most=0.3, max_rise=0.1)) == "at most 0.3, at most 0.1 above the live version"


def test_each_metric_stands_beside_the_baselines_value() -> None:
    rows = demo.metric_rows({"precision_at_25": 0.2, "coverage": 0.5}, {"precision_at_25": 0.1})

    assert rows == [("coverage", 0.5, None), ("precision_at_25", 0.2, 0.1)]


def test_the_export_summary_names_what_each_source_row_is(capsys: pytest.CaptureFixture[str]) -> None:
    account = {"source_rows": 3594, "exported": 3594, "excluded": {}, "quarantined": {}}
    summary = {
        "window": {
            "start": "2026-10-01T15:00:00+00:00",
            "end": "2026-10-31T15:00:00+00:00",
            "label": "20261002-20261101",
        },
        "datasets": {"interactions": 34086, "users": 955, "items": 300},
        "sources": {
            "products": account,
            "web_logs": {**account, "excluded": {"bot_session": 7}, "quarantined": {"missing_id": 2}},
        },
        "validation_passed": True,
        "import_jobs": {},
    }

    demo.print_export_summary(summary, SEOUL)

    out = capsys.readouterr().out
    assert "2026-10-02 to 2026-10-31, 30 days in Asia/Seoul" in out
    assert "product × size options" in out
    assert "(one row per product and size option; a product without options counts once)" in out
    assert "click-log rows" in out
    assert "excluded bot_session: 7" in out
    assert "quarantined missing_id: 2" in out
    assert "items 300 rows" in out


def test_recommendation_rows_have_labelled_aligned_columns_and_mark_her_size(
    capsys: pytest.CaptureFixture[str],
) -> None:
    her = member("1", "B", "75")
    items = {
        "10001": {**item("10001", "A|B|C", "70|75|80"), "CUP_TYPE": "three_quarter"},
        "10002": {**item("10002", "D|E", "80|85"), "CUP_TYPE": "plunge"},
    }

    demo.print_recommendation_rows(her, ["10001", "10002"], items, {"10001": 0.04, "10002": 0.031})

    header, first, second = capsys.readouterr().out.splitlines()
    assert header.split() == ["rank", "item", "score", "cup", "sizes", "band", "sizes", "cup", "type", "her", "size"]
    assert first.split() == ["1", "10001", "0.040", "A|B|C", "70|75|80", "three_quarter", "✓"]
    assert second.split() == ["2", "10002", "0.031", "D|E", "80|85", "plunge", "✗"]
    # Every column starts where its label does, the longest cup type included.
    for label in ("cup type", "her size"):
        column = header.index(label)
        assert first[column - 1] == " "
        assert second[column - 1] == " "
    assert first.index("✓") == header.index("her size")
