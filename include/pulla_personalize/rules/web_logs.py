"""web_logs → click, cart and wishlist interactions: the rules a web log row passes, in two stages.

``web_log_rules`` checks the rows of one chunk on their own. The rows that pass are events; with the chunk's
per-session statistics (every row with a usable session and time counts towards the session's rate) they are
spilled by session, so that ``session_rules`` later sees each session whole: bot sessions, then session
stitching (an event's own member, else the member who logged in during the session, from ``login_rows`` of the
session_logins query), then the member rules of ``members.member_event_rules``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from pulla_personalize import transform
from pulla_personalize.export_settings import ExportSettings
from pulla_personalize.quarantine import Verdicts
from pulla_personalize.rules.common import id_text_problems, quarantine_id_problems
from pulla_personalize.rules.interactions import beyond_retention
from pulla_personalize.rules.members import member_event_rules

if TYPE_CHECKING:
    from pulla_personalize.quality import Bounds


@dataclass
class WebLogRows:
    """One chunk of web log rows after the row rules."""

    #: The surviving rows: the source columns, then _session, _member, ITEM_ID, TIMESTAMP, EVENT_TYPE, DEVICE.
    events: pd.DataFrame
    #: Per session of the chunk: events, first_ms, last_ms (``transform.chunk_session_stats``), for the bot rule.
    session_stats: pd.DataFrame
    verdicts: Verdicts


def web_log_rules(chunk: pd.DataFrame, settings: ExportSettings, bounds: Bounds, product_ids: Any) -> WebLogRows:
    """Runs the row rules on one chunk of the web_logs query.

    ``bounds`` gives earliest, window_start, window_end and retained_from; ``product_ids`` is
    ``Catalogue.known_ids()``.
    """
    verdicts = Verdicts(len(chunk))
    # log_id, session_id: missing_id, the text reasons, id_too_long.
    quarantine_id_problems(verdicts, chunk, ("log_id", "session_id"), settings)
    sessions = transform.as_text(chunk["session_id"])
    millis, bad_millis = transform.as_integer(chunk["occurred_at_ms"])
    # Every row with a usable session and a time counts towards the session's rate, page views included.
    usable_session = ~transform.missing(chunk["session_id"]) & id_text_problems(chunk["session_id"], settings).isna()
    session_stats = transform.chunk_session_stats(sessions[usable_session], millis[usable_session])

    # event_name: unknown_event_name for a name the pipeline does not know; not_an_interaction for page_view,
    # search, login and logout.
    event_types, not_interaction, unknown = transform.web_event_types(chunk["event_name"])
    verdicts.quarantine(unknown, "unknown_event_name", "event_name")
    verdicts.exclude(not_interaction, "not_an_interaction")
    # occurred_at_ms: bad_timestamp when missing or not a whole number, timestamp_out_of_range before the
    # earliest timestamp; outside_window when the query returned a row of another window; beyond_retention when
    # older than the retention limit (a window longer than the retention).
    seconds = millis // 1000
    verdicts.quarantine(bad_millis | millis.isna().to_numpy(), "bad_timestamp", "occurred_at_ms")
    verdicts.quarantine(
        (seconds < bounds.earliest).fillna(False).to_numpy(), "timestamp_out_of_range", "occurred_at_ms"
    )
    verdicts.exclude(transform.outside(seconds, bounds.window_start, bounds.window_end).to_numpy(), "outside_window")
    verdicts.exclude(beyond_retention(seconds, bounds), "beyond_retention")
    # product_id: missing_id, the text reasons, id_too_long (only interactions are left: each needs a product).
    quarantine_id_problems(verdicts, chunk, ("product_id",), settings)
    # member_id (null before the session logs in): the text reasons, id_too_long.
    own_member = chunk["member_id"]
    verdicts.quarantine_reasons(id_text_problems(own_member, settings), "member_id")
    # product_id: unknown_product for an id the products query did not return.
    products = transform.as_text(chunk["product_id"])
    verdicts.quarantine(~transform.is_in(products, product_ids), "unknown_product", "product_id")

    alive = verdicts.alive
    events = chunk.loc[alive].assign(
        _session=sessions[alive],
        _member=transform.as_text(own_member[alive]),
        ITEM_ID=products[alive],
        TIMESTAMP=seconds[alive],
        EVENT_TYPE=event_types[alive],
        DEVICE=transform.device_from_user_agent(chunk["user_agent"][alive]),
    )
    return WebLogRows(events, session_stats, verdicts)


def login_rows(chunk: pd.DataFrame) -> pd.DataFrame:
    """One chunk of the session_logins query as (session_id, member_id, occurred_at_ms), rows without a session or
    a member left out: the logins session stitching reads. They are not source rows of their own: a login inside
    the window is also a web_logs row, counted there as not_an_interaction."""
    return pd.DataFrame(
        {
            "session_id": transform.as_text(chunk["session_id"]),
            "member_id": transform.as_text(chunk["member_id"]),
            "occurred_at_ms": transform.as_integer(chunk["occurred_at_ms"])[0],
        }
    ).dropna(subset=["session_id", "member_id"])


@dataclass
class SessionRows:
    """The events of whole sessions after the session rules."""

    #: USER_ID, ITEM_ID, TIMESTAMP, EVENT_TYPE, EVENT_VALUE (null), DEVICE of the surviving events; the index is
    #: the events' own.
    interactions: pd.DataFrame
    verdicts: Verdicts


def session_rules(
    events: pd.DataFrame,
    stats: pd.DataFrame,
    logins: pd.DataFrame | None,
    settings: ExportSettings,
    member_statuses: dict[str, str],
) -> SessionRows:
    """Runs the session rules on events (``WebLogRows.events``) that hold whole sessions.

    ``stats`` are the sessions' per-chunk statistics, ``logins`` their ``login_rows`` (None: no session of these
    logged in), ``member_statuses`` the member id → status of ``members.member_rules``.
    """
    verdicts = Verdicts(len(events))
    # bot_session: more events per minute than settings.bot_events_per_minute over the whole session.
    rates = transform.session_rates(stats)
    bots = transform.bot_sessions(rates, settings.bot_events_per_minute)
    verdicts.exclude(events["_session"].isin(bots).to_numpy(), "bot_session")
    # Stitching: the event's own member, else the session's first login; never_logged_in for the rest, unless
    # settings.keep_anonymous_sessions makes the session id their USER_ID.
    owners = (
        transform.session_owners(logins)
        if logins is not None
        else pd.Series(dtype="str", index=pd.Index([], dtype="str"))
    )
    users, attributed, anonymous = transform.attribute_users(
        events["_member"], events["_session"], owners, keep_anonymous=settings.keep_anonymous_sessions
    )
    if not settings.keep_anonymous_sessions:
        verdicts.exclude(anonymous.to_numpy(), "never_logged_in")
    # The member's status, for events with a member: test_account, withdrawn_member, unknown_member.
    member_event_rules(verdicts, users, member_statuses, attributed.to_numpy(), "member_id")

    alive = verdicts.alive
    interactions = pd.DataFrame(
        {
            "USER_ID": users[alive],
            "ITEM_ID": events["ITEM_ID"][alive],
            "TIMESTAMP": events["TIMESTAMP"][alive],
            "EVENT_TYPE": events["EVENT_TYPE"][alive],
            "EVENT_VALUE": pd.Series(pd.NA, index=events.index, dtype="str")[alive],
            "DEVICE": events["DEVICE"][alive],
        }
    )
    return SessionRows(interactions, verdicts)
