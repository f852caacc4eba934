"""The filter expression parser and evaluator of the local endpoint."""

from __future__ import annotations

import numpy as np
import pytest

from personalize_local.filters import (
    BoolOp,
    Comparison,
    FilterSyntaxError,
    FilterValueError,
    Literal,
    Placeholder,
    allowed_items,
    parse_filter,
    parse_filter_values,
)

ITEMS = {
    # item: (CUP_SIZE, BAND_SIZE, PRICE)
    "p1": ("A|B", "70|75", "10"),
    "p2": ("B|C", "75|80", "20"),
    "p3": ("C|D", "80|85", "30"),
    "p4": ("", "", ""),
}
ORDER = list(ITEMS)


class FakeCatalog:
    """A FilterContext over four items and one user's interactions, computed the obvious way."""

    size = len(ORDER)

    def __init__(self, history: list[tuple[str, str]]) -> None:
        self.history = history

    def items_in(self, field, values):
        column = {"CUP_SIZE": 0, "BAND_SIZE": 1, "PRICE": 2}[field]
        return np.array([bool(set(ITEMS[i][column].split("|")) & values) for i in ORDER])

    def items_compare(self, field, operator, value):
        prices = np.array([float(ITEMS[i][2] or "nan") for i in ORDER])
        return {"<": prices < float(value), ">=": prices >= float(value), "=": prices == float(value)}[operator]

    def interacted_with(self, event_types):
        return np.array([any(i == item and t in event_types for item, t in self.history) for i in ORDER])

    def interacted_with_other_than(self, event_types):
        return np.array([any(i == item and t not in event_types for item, t in self.history) for i in ORDER])

    def user_value(self, field):
        return self.user.get(field.upper())


def allowed(expression: str, values: dict[str, str] | None = None, history=(), user=None) -> list[str]:
    catalog = FakeCatalog(list(history))
    catalog.user = user or {}
    mask = allowed_items(parse_filter(expression), catalog, values)
    return [item for item, keep in zip(ORDER, mask, strict=True) if keep]


def test_parses_the_size_filter_into_an_and_of_two_placeholders():
    parsed = parse_filter("INCLUDE ItemID WHERE Items.CUP_SIZE IN ($CUP) AND Items.BAND_SIZE IN ($BAND)")
    (expression,) = parsed.expressions
    assert expression.action == "INCLUDE"
    assert expression.condition == BoolOp(
        "AND",
        (
            Comparison("Items", "CUP_SIZE", "IN", (Placeholder("CUP"),)),
            Comparison("Items", "BAND_SIZE", "IN", (Placeholder("BAND"),)),
        ),
    )
    assert parsed.placeholders() == {"CUP", "BAND"}
    assert parsed.item_fields() == {"CUP_SIZE", "BAND_SIZE"}


def test_string_literals_keep_escaped_quotes():
    parsed = parse_filter(r'EXCLUDE ItemID WHERE Items.CUP_SIZE IN ("say \"B\"", "C")')
    assert parsed.expressions[0].condition.values == (Literal('say "B"'), Literal("C"))


def test_size_filter_matches_any_value_of_multi_valued_fields():
    expression = "INCLUDE ItemID WHERE Items.CUP_SIZE IN ($CUP) AND Items.BAND_SIZE IN ($BAND)"
    assert allowed(expression, {"CUP": '"B"', "BAND": '"75"'}) == ["p1", "p2"]
    assert allowed(expression, {"CUP": '"A","D"', "BAND": '"85"'}) == ["p3"]


def test_a_placeholder_without_value_leaves_its_condition_out():
    expression = "INCLUDE ItemID WHERE Items.CUP_SIZE IN ($CUP) AND Items.BAND_SIZE IN ($BAND)"
    assert allowed(expression, {"BAND": '"80"'}) == ["p2", "p3"]
    assert allowed(expression, {}) == ORDER


def test_exclude_purchased_items_uses_the_users_interactions():
    history = [("p1", "purchase"), ("p2", "click"), ("p3", "purchase")]
    assert allowed('EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")', history=history) == ["p2", "p4"]
    assert allowed('INCLUDE ItemID WHERE Interactions.EVENT_TYPE NOT IN ("purchase")', history=history) == ["p2"]


def test_or_parentheses_comparisons_and_several_expressions():
    assert allowed('INCLUDE ItemID WHERE Items.CUP_SIZE IN ("A") OR Items.CUP_SIZE IN ("D")') == ["p1", "p3"]
    assert allowed(
        'INCLUDE ItemID WHERE (Items.CUP_SIZE IN ("B") OR Items.CUP_SIZE IN ("D")) AND Items.PRICE >= 20'
    ) == ["p2", "p3"]
    assert allowed('INCLUDE ItemID WHERE Items.PRICE < 25 | EXCLUDE ItemID WHERE Items.CUP_SIZE IN ("A")') == ["p2"]
    assert allowed('INCLUDE ItemID WHERE Items.CUP_SIZE NOT IN ("A", "B")') == ["p3", "p4"]


@pytest.mark.parametrize(
    "expression",
    [
        "",
        "INCLUDE ItemID",
        "SELECT * FROM items",
        "INCLUDE UserID WHERE Items.CUP_SIZE IN ($CUP)",
        "INCLUDE ItemID WHERE Users.AGE IN ($AGE)",
        "INCLUDE ItemID WHERE CurrentUser.AGE > 18",
        "INCLUDE ItemID WHERE Interactions.EVENT_VALUE > 3",
        "INCLUDE ItemID WHERE Items.CUP_SIZE IN ($CUP",
        "INCLUDE ItemID WHERE Items.CUP_SIZE IN ($CUP) AND",
        'INCLUDE ItemID WHERE Items.CUP_SIZE != "B"',
        "INCLUDE ItemID WHERE Items.CUP_SIZE IN ($CUP) extra",
        "INCLUDE ItemID WHERE Items.CUP_SIZE IN (#)",
    ],
)
def test_unknown_syntax_is_a_syntax_error(expression):
    with pytest.raises(FilterSyntaxError, match="Invalid Expression"):
        parse_filter(expression)


def test_filter_values_are_comma_separated_quoted_strings():
    assert parse_filter_values({"CUP": '"B"', "BANDS": '"70", "75"', "N": "3"}) == {
        "CUP": ("B",),
        "BANDS": ("70", "75"),
        "N": ("3",),
    }
    for bad in ("B", '"B" "C"', '"B",', ""):
        with pytest.raises(FilterValueError, match="CUP"):
            parse_filter_values({"CUP": bad})


def test_keywords_itemid_dataset_and_field_names_are_read_in_any_case():
    # The form of the service's own early API reference and of the sample notebooks.
    parsed = parse_filter('exclude itemId where INTERACTIONS.event_type in ("Watch")')
    (expression,) = parsed.expressions
    assert expression.action == "EXCLUDE"
    assert expression.condition == Comparison("Interactions", "EVENT_TYPE", "IN", (Literal("Watch"),))
    assert parse_filter('INCLUDE ItemID WHERE items.cup_size IN ("B")').item_fields() == {"cup_size"}


def test_event_types_match_ignoring_case_and_the_star_matches_every_type():
    history = [("p1", "Watch"), ("p2", "click")]
    # Event types reach the context lower-cased; the context matches its own types lower-cased (recommender.py).
    catalog = FakeCatalog([(item, kind.lower()) for item, kind in history])
    catalog.user = {}
    mask = allowed_items(parse_filter('EXCLUDE ItemID WHERE Interactions.event_type IN ("WATCH")'), catalog, None)
    assert [item for item, keep in zip(ORDER, mask, strict=True) if keep] == ["p2", "p3", "p4"]
    parsed = parse_filter('EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("*")')
    assert parsed.expressions[0].condition.values == (Literal("*"),)


def test_an_if_condition_on_the_current_user_decides_whether_the_expression_applies():
    expression = 'INCLUDE ItemID WHERE Items.CUP_SIZE IN ("D") IF CurrentUser.CUP_SIZE IN ("D")'
    assert allowed(expression, user={"CUP_SIZE": "D"}) == ["p3"]
    assert allowed(expression, user={"CUP_SIZE": "B"}) == ORDER
    assert allowed(expression, user={}) == ORDER  # no Users record: the condition does not hold
    ranged = "EXCLUDE ItemID WHERE Items.PRICE < 25 IF currentuser.age >= 18 AND CurrentUser.AGE < $MAX"
    assert allowed(ranged, {"MAX": "30"}, user={"AGE": "20"}) == ["p3", "p4"]
    assert allowed(ranged, {"MAX": "30"}, user={"AGE": "40"}) == ORDER
    assert allowed(ranged, {}, user={"AGE": "40"}) == ["p3", "p4"]  # the unbound comparison is left out
    parsed = parse_filter(ranged)
    assert parsed.user_fields() == {"age", "AGE"}
    assert parsed.placeholders() == {"MAX"}


@pytest.mark.parametrize(
    "expression",
    [
        'INCLUDE ItemID WHERE Items.CUP_SIZE IN ("B") IF Items.CUP_SIZE IN ("B")',
        'INCLUDE ItemID WHERE Items.CUP_SIZE IN ("B") IF CurrentUser.CUP_SIZE IN ("B") OR CurrentUser.AGE > 3',
        'INCLUDE ItemID WHERE Interactions.EVENTTYPE IN ("click")',
        'INCLUDE ItemID WHERE Itemz.CUP_SIZE IN ("B")',
    ],
)
def test_if_conditions_and_names_the_service_does_not_take_are_syntax_errors(expression):
    with pytest.raises(FilterSyntaxError, match="Invalid Expression"):
        parse_filter(expression)


def test_chained_include_expressions_keep_what_either_keeps_and_excludes_take_away():
    # The service's rule: Include A | Include B | Exclude C = (A or B) - C.
    history = [("p2", "favorite")]
    either = (
        'INCLUDE ItemID WHERE Items.CUP_SIZE IN ($CUP) | INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("favorite")'
    )
    assert allowed(either, {"CUP": '"D"'}, history=history) == ["p2", "p3"]
    assert allowed(either + " | EXCLUDE ItemID WHERE Items.PRICE >= 30", {"CUP": '"D"'}, history=history) == ["p2"]
    assert allowed(either, {}, history=history) == ["p2"]  # the first expression awaits its value: left out
