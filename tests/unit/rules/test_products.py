"""The product rules on one hand-built chunk, and the catalogue the surviving rows build the Items records from."""

from __future__ import annotations

from typing import Any

from pulla_personalize.csvout import schema_fields
from pulla_personalize.rules.products import Catalogue, Product, product_rules

from .conftest import BOUNDS, LONG_ID, PASSES, SETTINGS, E, S, query_chunk, records, verdict_list

REGISTERED = 1748703600  # 2025-06-01 00:00 Seoul


def option(product_id: object, option_id: object = 1, **values: object) -> dict[str, Any]:
    clean = {
        "product_id": product_id,
        "cup_type": " full ",
        "wire": 1,
        "braret": 0,
        "gore_height": "mid",
        "gore_width": None,
        "braret_line": None,
        "bsw": "regular",
        "price": 30000,
        "status": "on_sale",
        "registered_at": "2025-06-01 00:00:00",
        "option_id": option_id,
        "option_cup_size": " b ",
        "option_band_size": 75,
        "stock": 3,
    }
    return {**clean, **values}


# (row, the verdict it gets), in rule order.
CASES = [
    (option(100, 1000), PASSES),
    (option(None), ("quarantined", "missing_id", "product_id")),
    (option(LONG_ID), ("quarantined", "id_too_long", "product_id")),
    (option(103, cup_type="a|b"), ("quarantined", "pipe_in_value", "cup_type")),
    (option(104, gore_height="x" * 1001), ("quarantined", "categorical_too_long", "gore_height")),
    (option(105, gore_width="\x07"), ("quarantined", "control_character", "gore_width")),
    (option(106, braret_line=b"\xffline"), ("quarantined", "invalid_utf8", "braret_line")),
    (option(107, bsw="narrow\nwide"), ("quarantined", "line_break_in_value", "bsw")),
    (option(108, wire=2), ("quarantined", "invalid_boolean", "wire")),
    (option(109, braret="y"), ("quarantined", "invalid_boolean", "braret")),
    (option(110, registered_at="garbage"), ("quarantined", "bad_timestamp", "registered_at")),
    (option(111, registered_at="1999-01-01 00:00:00"), ("quarantined", "timestamp_out_of_range", "registered_at")),
    (option(112, registered_at="2026-01-02 00:00:00"), ("quarantined", "timestamp_out_of_range", "registered_at")),
    (option(113, option_cup_size="A|B"), ("quarantined", "pipe_in_value", "option_cup_size")),
    (option(114, option_cup_size="Z"), ("quarantined", "unknown_size", "option_cup_size")),
    (option(115, option_band_size=73), ("quarantined", "unknown_size", "option_band_size")),
    # Another option of product 100; a product without options; one without a registration time.
    (option(100, 1001, cup_type="half", option_cup_size="A", option_band_size="80"), PASSES),
    (
        option(101, None, wire=None, registered_at=None, option_cup_size=None, option_band_size=None, stock=None),
        PASSES,
    ),
    (option(102, 1020, registered_at=None, option_cup_size="AA", option_band_size=70), PASSES),
]
OPTIONS = [
    ("100", "B", "75", REGISTERED, "True", "False", "full", "mid", None, None, "regular"),
    ("100", "A", "80", REGISTERED, "True", "False", "half", "mid", None, None, "regular"),
    ("101", None, None, None, None, "False", "full", "mid", None, None, "regular"),
    ("102", "AA", "70", None, "True", "False", "full", "mid", None, None, "regular"),
]


def rules_of(cases: list[tuple[dict[str, Any], tuple[str, str, str]]]) -> Any:
    return product_rules(query_chunk("products", [row for row, _ in cases]), SETTINGS, BOUNDS)


def test_each_product_row_gets_the_verdict_of_its_rule() -> None:
    rows = rules_of(CASES)
    assert verdict_list(rows.verdicts) == [verdict for _, verdict in CASES]
    assert list(rows.options.columns) == [
        "id",
        "cup",
        "band",
        "registered",
        "WIRE",
        "BRARET",
        "CUP_TYPE",
        "GORE_HEIGHT",
        "GORE_WIDTH",
        "BRARET_LINE",
        "BSW",
    ]
    assert records(rows.options) == OPTIONS


def test_a_product_with_an_id_exists_even_when_its_rows_are_quarantined() -> None:
    rows = rules_of(CASES)
    assert rows.product_ids == [
        "100",
        LONG_ID,
        *(str(product_id) for product_id in range(103, 116)),
        "100",
        "101",
        "102",
    ]


def test_the_catalogue_takes_attributes_from_the_first_surviving_row_and_sizes_from_all() -> None:
    catalogue = Catalogue()
    catalogue.add(rules_of(CASES))
    # A later chunk: product 100 again (its attributes stay, its sizes grow), product 103 now with a row that passes.
    catalogue.add(rules_of([(option(100, 1002, cup_type="plunge", option_cup_size="C", option_band_size=85), PASSES)]))
    catalogue.add(rules_of([(option(103, 1030, cup_type="half"), PASSES)]))
    assert catalogue.products["100"] == Product(
        attributes={
            "WIRE": "True",
            "BRARET": "False",
            "CUP_TYPE": "full",
            "GORE_HEIGHT": "mid",
            "GORE_WIDTH": None,
            "BRARET_LINE": None,
            "BSW": "regular",
        },
        registered=REGISTERED,
        cup_sizes={"A", "B", "C"},
        band_sizes={"75", "80", "85"},
    )
    assert catalogue.products["103"].attributes["CUP_TYPE"] == "half"
    assert catalogue.products["104"] is None  # exists, no record
    assert LONG_ID in catalogue.products
    assert catalogue.listed_ids() == ["100", "103", "101", "102"]  # in the order the ids first appeared


def test_items_take_creation_time_from_registration_then_first_interaction_then_window_end() -> None:
    catalogue = Catalogue()
    catalogue.add(rules_of(CASES))
    columns = schema_fields("items", SETTINGS.schemas_dir)
    items, origins = catalogue.items(columns, first_interaction={"101": S + 5, "100": S + 9}, window_end=E)
    assert list(items.columns) == columns
    assert records(items) == [
        ("100", REGISTERED, "A|B", "75|80", "True", "False", "full", "mid", None, None, "regular"),
        ("101", S + 5, None, None, None, "False", "full", "mid", None, None, "regular"),
        ("102", E - 1, "AA", "70", "True", "False", "full", "mid", None, None, "regular"),
    ]
    assert origins == {"first_interaction": 1, "registered_at": 1, "window_end": 1}
