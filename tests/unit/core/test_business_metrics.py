"""The shop's own measures of a solution version and the gate's rules on them (pulla_personalize.business_metrics)."""

from __future__ import annotations

import time
from dataclasses import fields

import numpy as np
import pandas as pd
import pytest

from pulla_personalize.business_metrics import business_metrics
from pulla_personalize.business_rules import (
    BUSINESS_METRICS,
    DESCRIPTIONS,
    RULE_KEYS,
    BusinessRule,
    BusinessRuleError,
    check_business_rules,
    parse_business_rules,
)
from pulla_personalize.crm import DatasetError

AS_OF = 1_800_000_000
DAY = 86_400
WHERE = "quality_gate.business_rules"


def frame(columns: str, *rows: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=columns.split(), dtype=str)


USERS = frame(
    "USER_ID AGE CUP_SIZE BAND_SIZE",
    ("1", "30", "B", "75"),
    ("2", "41", "C", "80"),
    ("3", "25", "B", ""),  # no band: her positions are not judged for size
)
ITEMS = frame(
    "ITEM_ID CREATION_TIMESTAMP CUP_SIZE BAND_SIZE WIRE",
    ("a", str(AS_OF - 10 * DAY), "A|B|C", "70|75|80", "wire"),  # fits 1 and 2; new
    ("b", str(AS_OF - 40 * DAY), "B", "75", "wire"),  # fits 1 only; old
    ("c", str(AS_OF - 30 * DAY), "", "", ""),  # one size: fits everyone; new (exactly 30 days)
    ("d", str(AS_OF - 30 * DAY - 1), "C", "", "wire"),  # any band: fits 2 only; old by one second
    ("e", "", "B|C", "80", "wireless"),  # fits 2 (C, 80), not 1 (75); no creation time: not new
    ("f", str(AS_OF - DAY), "A", "70", "wire"),  # never recommended
    ("g", str(AS_OF - DAY), "A", "65", "wire"),  # never recommended
)
INTERACTIONS = frame(
    "USER_ID ITEM_ID EVENT_TYPE TIMESTAMP",
    ("1", "b", "purchase", "1"),
    ("1", "a", "click", "2"),  # a click is not a purchase
    ("2", "d", "purchase", "3"),
    ("3", "a", "click", "4"),
)
RECOMMENDATIONS = {
    "1": ["a", "b", "c", "d"],  # top 3: a b c (d is cut by k=3)
    "2": ["d", "e", "zzz"],  # zzz is not in the catalogue
    "3": ["a", "e"],
    "9": [],  # nothing recommended: not measured
}


def measure(recommendations=RECOMMENDATIONS, **kwargs) -> dict:
    arguments = {"users": USERS, "items": ITEMS, "interactions": INTERACTIONS, "as_of_epoch": AS_OF, "k": 3}
    return business_metrics(recommendations, **(arguments | kwargs))


def test_every_metric_has_a_description() -> None:
    assert set(DESCRIPTIONS) == set(BUSINESS_METRICS)
    assert tuple(rule.name for rule in fields(BusinessRule)) == RULE_KEYS


def test_the_business_metrics_of_a_hand_built_case() -> None:
    # Positions (k=3): 1: a b c | 2: d e zzz | 3: a e  → 8 positions, 3 members measured.
    # Size fit, members 1 and 2 only (3 has no band): 1: a✓ b✓ c✓ | 2: d✓ e✓ zzz✗ → 5/6.
    # Coverage: a b c d e of the 7 catalogue items (zzz is not one) → 5/7 = 0.714286.
    # New (created at or after AS_OF - 30 days): a c | - | a → 3/8.
    # Already bought (purchases 1-b, 2-d): b | d | - → 2/8.
    assert measure() == {
        "members_measured": 3,
        "members_with_size": 2,
        "size_fit_at_25": 0.833333,
        "catalogue_coverage": 0.714286,
        "new_item_share": 0.375,
        "already_bought_share": 0.25,
    }


def test_k_cuts_each_list_and_the_new_item_window_moves_with_its_days() -> None:
    # k=4 adds member 1's d (does not fit her, old, not bought): size fit 5/7, new 3/9, bought 2/9.
    wider = measure(k=4)
    assert wider["size_fit_at_25"] == 0.714286
    assert wider["new_item_share"] == 0.333333
    assert wider["already_bought_share"] == 0.222222
    # With 5 days nothing recommended is new; with 40, b (40 days) and d are too but e (no time) never is.
    assert measure(new_item_days=5)["new_item_share"] == 0.0
    assert measure(new_item_days=40)["new_item_share"] == 0.625  # a b c | d | a → 5/8


def test_size_fit_is_none_when_no_measured_member_has_both_sizes() -> None:
    result = measure({"3": ["a"], "9": ["b"]})
    assert result["members_with_size"] == 0
    assert result["size_fit_at_25"] is None
    assert result["members_measured"] == 2


@pytest.mark.parametrize(
    ("recommendations", "kwargs", "error", "message"),
    [
        ({}, {}, ValueError, r"no recommendations to measure"),
        ({"1": [], "2": []}, {}, ValueError, r"no recommended items to measure among 2 members"),
        ({"1": "abc"}, {}, ValueError, r"recommendations of member '1' must be a list of item ids"),
        (RECOMMENDATIONS, {"k": 0}, ValueError, r"k must be a whole number of at least 1, got 0"),
        (RECOMMENDATIONS, {"new_item_days": -1}, ValueError, r"new_item_days must not be negative"),
        (RECOMMENDATIONS, {"items": ITEMS.drop(columns="BAND_SIZE")}, DatasetError, r"items: no BAND_SIZE column"),
        (RECOMMENDATIONS, {"users": USERS.drop(columns="CUP_SIZE")}, DatasetError, r"users: no CUP_SIZE column"),
        (
            RECOMMENDATIONS,
            {"interactions": INTERACTIONS.iloc[:, :2]},
            DatasetError,
            r"interactions: no EVENT_TYPE column",
        ),
        (RECOMMENDATIONS, {"items": ITEMS.iloc[:0]}, DatasetError, r"items: no item to measure coverage against"),
        (
            RECOMMENDATIONS,
            {"items": ITEMS.assign(CREATION_TIMESTAMP=["1", "2", "soon", "4", "5", "6", "7"])},
            DatasetError,
            r"items: line 4: CREATION_TIMESTAMP 'soon' is not epoch seconds",
        ),
    ],
)
def test_bad_input_is_refused_naming_what_is_wrong(recommendations, kwargs: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        measure(recommendations, **kwargs)


def test_two_thousand_members_against_five_thousand_items_take_under_a_second() -> None:
    random = np.random.default_rng(11)
    item_ids = [str(number) for number in range(5000)]
    cups, bands = ["A", "B", "C", "D"], ["65", "70", "75", "80", "85"]
    # Each cup is in 2 of these 4 lists and each band in 3 of these 5: a random pair fits half × 3/5 of the time.
    cup_lists, band_lists = ["A|B", "B|C", "C|D", "A|D"], ["65|70|75", "70|75|80", "75|80|85", "65|80|85", "65|70|85"]
    items = pd.DataFrame(
        {
            "ITEM_ID": item_ids,
            "CREATION_TIMESTAMP": [str(AS_OF - int(days) * DAY) for days in random.integers(0, 365, 5000)],
            "CUP_SIZE": random.choice(cup_lists, 5000),
            "BAND_SIZE": random.choice(band_lists, 5000),
        }
    )
    members = [str(number) for number in range(2000)]
    users = pd.DataFrame(
        {"USER_ID": members, "CUP_SIZE": random.choice(cups, 2000), "BAND_SIZE": random.choice(bands, 2000)}
    )
    interactions = pd.DataFrame(
        {
            "USER_ID": random.choice(members, 50_000),
            "ITEM_ID": random.choice(item_ids, 50_000),
            "EVENT_TYPE": random.choice(["click", "purchase"], 50_000),
        }
    )
    picks = random.integers(0, 5000, size=(2000, 25))
    recommendations = {member: [item_ids[index] for index in row] for member, row in zip(members, picks, strict=True)}
    started = time.perf_counter()
    result = business_metrics(recommendations, users=users, items=items, interactions=interactions, as_of_epoch=AS_OF)
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0, f"took {elapsed:.2f} s"
    assert result["members_measured"] == 2000
    assert result["members_with_size"] == 2000
    assert 0.27 < result["size_fit_at_25"] < 0.33


def test_business_rules_parse_into_bounds() -> None:
    rules = parse_business_rules(
        {
            "size_fit_at_25": {"at_least": 0.9, "max_drop": 0.02},
            "already_bought_share": {"at_most": 1, "max_rise": None},
        },
        where=WHERE,
    )
    assert rules == {
        "size_fit_at_25": BusinessRule(at_least=0.9, max_drop=0.02),
        "already_bought_share": BusinessRule(at_most=1.0),
    }
    assert parse_business_rules({}, where=WHERE) == {}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (["size_fit_at_25"], r"^quality_gate\.business_rules must be a mapping of business metric to rule"),
        (
            {"ctr": {"at_least": 0.1}},
            r"^quality_gate\.business_rules\.ctr is not a business metric; known: size_fit_at_25, catalogue_coverage, "
            r"new_item_share, already_bought_share$",
        ),
        ({"size_fit_at_25": 0.9}, r"^quality_gate\.business_rules\.size_fit_at_25 must be a mapping of at_least"),
        ({"size_fit_at_25": {"minimum": 0.9}}, r"size_fit_at_25\.minimum is not a rule key; use at_least, at_most"),
        (
            {"size_fit_at_25": {"at_least": "x"}},
            r"^quality_gate\.business_rules\.size_fit_at_25\.at_least must be a number between 0 and 1, got 'x'$",
        ),
        ({"new_item_share": {"at_most": 1.5}}, r"new_item_share\.at_most must be a number between 0 and 1, got 1\.5"),
        ({"new_item_share": {"max_rise": -0.1}}, r"new_item_share\.max_rise must be a number .*, got -0\.1"),
        ({"new_item_share": {"max_drop": float("nan")}}, r"new_item_share\.max_drop must be a number .*, got nan"),
        ({"new_item_share": {"at_least": float("inf")}}, r"new_item_share\.at_least must be a number .*, got inf"),
        ({"new_item_share": {"at_least": True}}, r"new_item_share\.at_least must be a number .*, got True"),
        ({"catalogue_coverage": {}}, r"catalogue_coverage sets no bound: give at least one of at_least"),
        ({"catalogue_coverage": {"at_least": None}}, r"catalogue_coverage sets no bound"),
        ({"catalogue_coverage": {"at_least": 0.9, "at_most": 0.5}}, r"coverage\.at_least 0\.9 is above at_most 0\.5"),
    ],
)
def test_a_wrong_business_rule_names_where_the_metric_and_the_key(data: object, message: str) -> None:
    with pytest.raises(BusinessRuleError, match=message):
        parse_business_rules(data, where=WHERE)  # type: ignore[arg-type]


RULES = {
    # Given out of order: the checks still read in BUSINESS_METRICS order.
    "already_bought_share": BusinessRule(at_most=0.1, max_rise=0.05),
    "size_fit_at_25": BusinessRule(at_least=0.9, max_drop=0.02),
}
LIVE = {"size_fit_at_25": 0.9212, "already_bought_share": 0.04}


def test_a_version_that_fits_worse_fails_both_its_floor_and_its_drop() -> None:
    verdict = check_business_rules({"size_fit_at_25": 0.8712, "already_bought_share": 0.05}, LIVE, RULES)
    assert verdict.checks == [
        "size_fit_at_25 0.8712 < 0.9: at least 0.9 required",
        "size_fit_at_25 0.8712 is 0.0500 below the live version's 0.9212 (at most 0.02 allowed)",
        "already_bought_share 0.0500 <= 0.1",
        "already_bought_share 0.0500 is 0.0100 above the live version's 0.0400 (at most 0.05 allowed)",
    ]
    assert verdict.failures == verdict.checks[:2]
    assert not verdict.passed
    assert verdict.as_dict() == {"passed": False, "failures": verdict.checks[:2], "checks": verdict.checks}


def test_a_version_within_every_bound_passes() -> None:
    verdict = check_business_rules({"size_fit_at_25": 0.9412, "already_bought_share": 0.12}, LIVE, RULES)
    assert verdict.checks == [
        "size_fit_at_25 0.9412 >= 0.9",
        "size_fit_at_25 0.9412 is not below the live version's 0.9212",
        "already_bought_share 0.1200 > 0.1: at most 0.1 allowed",
        "already_bought_share 0.1200 is 0.0800 above the live version's 0.0400 (at most 0.05 allowed)",
    ]
    assert verdict.failures == verdict.checks[2:]
    passing = check_business_rules({"size_fit_at_25": 0.9412, "already_bought_share": 0.06}, LIVE, RULES)
    assert passing.passed
    assert passing.failures == []


def test_a_drop_exactly_at_its_limit_passes_despite_float_rounding() -> None:
    # 0.9212 - 0.9012 is 0.020000000000000018 in floats: still the 0.02 allowed.
    rule = {"size_fit_at_25": BusinessRule(max_drop=0.02)}
    assert check_business_rules({"size_fit_at_25": 0.9012}, LIVE, rule).passed
    assert not check_business_rules({"size_fit_at_25": 0.9011}, LIVE, rule).passed


def test_without_a_live_version_only_the_absolute_bounds_apply() -> None:
    verdict = check_business_rules({"size_fit_at_25": 0.95, "already_bought_share": 0.01}, None, RULES)
    assert verdict.passed
    assert verdict.checks == [
        "size_fit_at_25 0.9500 >= 0.9",
        "size_fit_at_25 max_drop not checked: no live version to compare",
        "already_bought_share 0.0100 <= 0.1",
        "already_bought_share max_rise not checked: no live version to compare",
    ]
    # A live version that never measured the metric is no comparison either, and no failure.
    partial = check_business_rules({"size_fit_at_25": 0.95}, {"catalogue_coverage": 0.4}, RULES)
    assert "size_fit_at_25 max_drop not checked: the live version has no size_fit_at_25 measured" in partial.checks


@pytest.mark.parametrize("measured", [{}, {"size_fit_at_25": None}, {"size_fit_at_25": float("nan")}])
def test_a_metric_not_measured_fails_its_rule(measured: dict) -> None:
    verdict = check_business_rules(measured, LIVE, {"size_fit_at_25": BusinessRule(at_least=0.5)})
    assert verdict.failures == ["no size_fit_at_25 measured"]
    assert not verdict.passed
