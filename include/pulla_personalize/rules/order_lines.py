"""order_lines → purchase interactions: the rules an order line passes.

The order_lines query returns every line of the orders placed in the window, whatever their status; the lines
that pass become ``purchase`` interactions with EVENT_VALUE = the unit price in thousand KRW.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from pulla_personalize import transform
from pulla_personalize.export_settings import ExportSettings
from pulla_personalize.quarantine import Verdicts
from pulla_personalize.rules.common import quarantine_id_problems
from pulla_personalize.rules.interactions import beyond_retention
from pulla_personalize.rules.members import member_event_rules

if TYPE_CHECKING:
    from pulla_personalize.quality import Bounds


@dataclass
class OrderLineRows:
    """One chunk of order lines after the rules."""

    #: USER_ID, ITEM_ID, TIMESTAMP, EVENT_TYPE, EVENT_VALUE, DEVICE of the surviving lines, in chunk order.
    interactions: pd.DataFrame
    verdicts: Verdicts


def order_line_rules(
    chunk: pd.DataFrame,
    settings: ExportSettings,
    bounds: Bounds,
    member_statuses: dict[str, str],
    product_ids: Any,
) -> OrderLineRows:
    """Runs the order line rules on one chunk of the order_lines query.

    ``bounds`` gives earliest, window_start, window_end and retained_from; ``member_statuses`` is the member id
    → status of ``members.member_rules``, ``product_ids`` is ``Catalogue.known_ids()``.
    """
    verdicts = Verdicts(len(chunk))
    # order_item_id, order_id, member_id, product_id: missing_id, the text reasons, id_too_long.
    quarantine_id_problems(verdicts, chunk, ("order_item_id", "order_id", "member_id", "product_id"), settings)
    # status: unknown_order_status for a status the pipeline does not know; cancelled_order, refunded_order.
    rules, unknown_status = transform.order_status_rules(chunk["status"])
    verdicts.quarantine(unknown_status, "unknown_order_status", "status")
    for rule in transform.EXCLUDED_STATUSES.values():
        verdicts.exclude((rules == rule).to_numpy(dtype=bool, na_value=False), rule)
    # ordered_at: bad_timestamp when missing, unreadable or a local time that does not exist,
    # timestamp_out_of_range before the earliest timestamp; outside_window when the query returned a line of
    # another window; beyond_retention when older than the retention limit (a window longer than the retention).
    seconds, bad_time = transform.local_to_epoch_seconds(chunk["ordered_at"], settings.source_time_zone)
    verdicts.quarantine(bad_time | seconds.isna().to_numpy(), "bad_timestamp", "ordered_at")
    verdicts.quarantine((seconds < bounds.earliest).fillna(False).to_numpy(), "timestamp_out_of_range", "ordered_at")
    verdicts.exclude(transform.outside(seconds, bounds.window_start, bounds.window_end).to_numpy(), "outside_window")
    verdicts.exclude(beyond_retention(seconds, bounds), "beyond_retention")
    # channel: unknown_channel for a channel the pipeline does not know.
    devices, unknown_channel = transform.device_from_channel(chunk["channel"])
    verdicts.quarantine(unknown_channel, "unknown_channel", "channel")
    # unit_price: invalid_number when not a whole number or negative.
    prices, bad_price = transform.as_integer(chunk["unit_price"])
    verdicts.quarantine(bad_price | (prices < 0).fillna(False).to_numpy(), "invalid_number", "unit_price")
    # member_id: test_account, withdrawn_member, unknown_member.
    members = transform.as_text(chunk["member_id"])
    member_event_rules(verdicts, members, member_statuses, np.ones(len(chunk), dtype=bool), "member_id")
    # product_id: unknown_product for an id the products query did not return.
    products = transform.as_text(chunk["product_id"])
    verdicts.quarantine(~transform.is_in(products, product_ids), "unknown_product", "product_id")

    alive = verdicts.alive
    interactions = pd.DataFrame(
        {
            "USER_ID": members[alive],
            "ITEM_ID": products[alive],
            "TIMESTAMP": seconds[alive],
            "EVENT_TYPE": transform.PURCHASE,
            "EVENT_VALUE": transform.event_value_from_unit_price(prices[alive]),
            "DEVICE": devices[alive],
        }
    )
    return OrderLineRows(interactions, verdicts)
