"""Pure pandas column checks and transforms: the vocabulary the row rules (``pulla_personalize.rules``) use.

Nothing here touches a database or a file: each function takes Series/DataFrames and returns new ones, so every
check is unit-tested on its own with hostile values. Which check applies to which column of which source, and in
what order, is each source's module in ``rules``.

Conventions: ids and categorical values are pandas ``str`` Series (NA = null); timestamps leave here as UTC epoch
seconds in ``Int64``; a function that can find bad values returns them as a boolean mask or as a Series of
reason codes (see ``quarantine.QUARANTINE_REASONS``) rather than raising, so the caller can quarantine the row.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from pulla_personalize.rules.sizes import BAND_SIZES, CUP_SIZES

#: web_logs.event_name → Interactions EVENT_TYPE.
WEB_EVENT_TYPES = {"product_view": "click", "add_to_cart": "cart", "wishlist": "wishlist"}
#: web_logs events that are known and simply not interactions.
NON_INTERACTION_EVENTS = frozenset({"page_view", "search", "login", "logout"})
PURCHASE = "purchase"
EVENT_TYPES = (PURCHASE, *WEB_EVENT_TYPES.values())

PURCHASE_STATUSES = frozenset({"paid", "shipped", "delivered"})
#: Order statuses that are excluded, with the name of their rule.
EXCLUDED_STATUSES = {"cancelled": "cancelled_order", "refunded": "refunded_order"}

DEVICES = ("mobile", "tablet", "pc")
#: orders.channel → DEVICE; the app and mobile-web channels say "mobile" unless the user agent says tablet.
CHANNEL_DEVICES = {"app_ios": "mobile", "app_android": "mobile", "mobile_web": "mobile", "pc_web": "pc"}

_TABLET_UA = re.compile(r"ipad|tablet|kindle|silk/|playbook|sm-t\d|(?:android(?!.*mobile))", re.IGNORECASE)
_MOBILE_UA = re.compile(r"mobi|iphone|ipod|android|blackberry|opera mini|iemobile|windows phone", re.IGNORECASE)
_SURROGATE = "[\ud800-\udfff]"
_CONTROL = "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"
_LINE_BREAK = "[\r\n\u2028\u2029\x85]"
_SUSPICIOUS = "[|\x00-\x08\x0a-\x1f\x7f\x85\u2028\u2029\ud800-\udfff]"
_SUSPICIOUS_ANY = re.compile(_SUSPICIOUS)
# Arrow-backed strings never hold surrogates, and Arrow's regex engine cannot even be given one.
_SUSPICIOUS_ARROW = "[|\x00-\x08\x0a-\x1f\x7f\x85\u2028\u2029]"
_PYTHON_STR = pd.StringDtype("python", na_value=np.nan)
_EPOCH = pd.Timestamp("1970-01-01", tz="UTC")


# --- values ----------------------------------------------------------------------------------------------------


def _text_of(value: Any) -> Any:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool | np.bool_):
        return str(int(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        if math.isnan(value):
            return None
        # Integral floats only appear when a driver or pandas widened an integer column.
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    if isinstance(value, Decimal):
        return str(value.normalize()) if value == value.to_integral_value() else str(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        # Keep bad bytes visible as lone surrogates: text_problems() reports them as invalid_utf8.
        return value.decode("utf-8", "surrogateescape")
    return str(value)


def as_text(values: pd.Series) -> pd.Series:
    """Any source column (ints, strings, dates, bytes, None) as a ``str`` Series; empty strings become NA."""
    if isinstance(values.dtype, pd.StringDtype):
        text = values
    else:
        items = [_text_of(value) for value in values]
        try:
            text = pd.Series(items, index=values.index, dtype="str")
        except UnicodeEncodeError:
            # With pyarrow installed "str" is Arrow-backed, and Arrow cannot hold the lone surrogates that stand
            # for invalid UTF-8 from the source: keep such a column in Python storage so it can be quarantined.
            text = pd.Series(items, index=values.index, dtype=_PYTHON_STR)
    arrow = _arrow_values(text)
    if arrow is not None:
        import pyarrow.compute as pc

        # Arrow text is called for many times per chunk: the usual column without an empty string is returned
        # as it is instead of copied by mask().
        if not pc.any(pc.equal(arrow, "")).as_py():
            return text
    return text.mask(text == "")


def as_integer(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(Int64 values, mask of non-null values that are not integers)."""
    text = as_text(values)
    exact = _arrow_integers(text)
    if exact is not None:
        return exact, pd.Series(False, index=values.index)
    numbers = pd.to_numeric(text, errors="coerce")  # surrounding blanks are allowed by to_numeric
    integral = numbers.notna() & (numbers == np.floor(numbers.fillna(0)))
    invalid = text.notna() & ~integral
    result = numbers.where(integral).astype("Float64").astype("Int64")
    return result, invalid.fillna(False).astype(bool)


def _arrow_values(text: pd.Series) -> Any:
    """The Arrow chunked array behind Arrow-backed text; None for text kept in Python strings."""
    if getattr(text.dtype, "storage", None) != "pyarrow":
        return None
    return text.array.__arrow_array__()


def _arrow_integers(text: pd.Series) -> pd.Series | None:
    """Arrow-backed text whose every value is a plain integer, as Int64 in one C++ cast; None otherwise."""
    values = _arrow_values(text)
    if values is None:
        return None
    import pyarrow as pa

    try:
        cast = values.cast(pa.int64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None  # blanks, decimals or words: the general path below sorts them out
    return pd.Series(pd.arrays.ArrowExtensionArray(cast), index=text.index).astype("Int64")


def _arrow_text_is_clean(text: pd.Series, max_length: int) -> bool | None:
    """For Arrow-backed text: True when no value is too long or holds a character ``text_problems`` looks for;
    None for other storage. One bytes scan of each chunk's data buffer (it may also hold bytes of values sliced
    away: a hit there only sends the chunk to the exact per-value checks)."""
    values = _arrow_values(text)
    if values is None:
        return None
    import pyarrow.compute as pc

    for chunk in values.chunks:
        if chunk.null_count == len(chunk):
            continue
        # Bytes are at least as many as characters: only a long byte length needs counting characters.
        if (pc.max(pc.binary_length(chunk)).as_py() or 0) > max_length and (
            pc.max(pc.utf8_length(chunk)).as_py() or 0
        ) > max_length:
            return False
        data = chunk.buffers()[2]
        if data is not None and _has_suspicious_bytes(np.frombuffer(data, dtype=np.uint8)):
            return False
    return True


def _has_suspicious_bytes(raw: np.ndarray) -> bool:
    """Whether UTF-8 bytes hold a character of ``_SUSPICIOUS_ARROW``: ``|``, a control character other than tab,
    or the multi-byte U+0085 (C2 85), U+2028 and U+2029 (E2 80 A8/A9). Vectorised: a regex scan of the same
    bytes took a hundred times longer."""
    if ((raw < 0x20) & (raw != 0x09)).any() or (raw == 0x7C).any() or (raw == 0x7F).any():
        return True
    lead = np.flatnonzero(raw[:-1] == 0xC2)
    if (raw[lead + 1] == 0x85).any():
        return True
    lead = np.flatnonzero(raw[:-2] == 0xE2)
    return bool(((raw[lead + 1] == 0x80) & ((raw[lead + 2] == 0xA8) | (raw[lead + 2] == 0xA9))).any())


def text_problems(values: pd.Series, *, max_length: int, too_long_reason: str) -> pd.Series:
    """Per value, the first reason it cannot be written to a Personalize CSV as is (NA when it can).

    Checked in order: invalid UTF-8 (lone surrogates from undecodable bytes), line breaks, ``|``, other control
    characters, then length. Nulls are fine here; whether a null is allowed is the caller's business.
    """
    text = as_text(values)
    reasons = pd.Series(pd.NA, index=values.index, dtype="str")
    # Nearly every chunk is clean: one regex scan over all its values joined (the pattern is a single character
    # class, so joining creates no false match) and one pass of len() prove it far faster than per-value checks.
    clean = _arrow_text_is_clean(text, max_length)
    if clean is None:
        present = text.dropna().tolist()
        clean = max(map(len, present), default=0) <= max_length and _SUSPICIOUS_ANY.search("".join(present)) is None
    if clean:
        return reasons
    # One pass finds the rare suspicious values; only those get the per-reason checks (ids are millions of rows).
    arrow = _arrow_values(text) is not None
    pattern = _SUSPICIOUS_ARROW if arrow else _SUSPICIOUS
    suspicious = (text.str.contains(pattern, regex=True) | (text.str.len() > max_length)).fillna(False)
    suspicious = suspicious.astype(bool)
    if not suspicious.any():
        return reasons
    flagged = text[suspicious]
    checks = [
        ("invalid_utf8", pd.Series(False, index=flagged.index) if arrow else flagged.str.contains(_SURROGATE)),
        ("line_break_in_value", flagged.str.contains(_LINE_BREAK, regex=True)),
        ("pipe_in_value", flagged.str.contains("|", regex=False)),
        ("control_character", flagged.str.contains(_CONTROL, regex=True)),
        (too_long_reason, flagged.str.len() > max_length),
    ]
    found = pd.Series(pd.NA, index=flagged.index, dtype="str")
    for reason, hits in checks:
        found = found.mask(found.isna() & hits.fillna(False).astype(bool), reason)
    reasons.loc[flagged.index] = found
    return reasons


def missing(values: pd.Series) -> pd.Series:
    """Null, NaN or empty (after trimming) values."""
    text = as_text(values)
    return (text.isna() | text.str.isspace()).fillna(True).astype(bool)


def natural_key(values: pd.Series) -> pd.Series:
    """A sort key putting numeric ids in numeric order ("9" < "10") and other ids after them, by text."""
    text = as_text(values).fillna("")
    # Per value in Python: it runs once per catalogue (items), and works for text Arrow cannot hold.
    keys = [f"0{len(value):02d}{value}" if _is_natural_number(value) else f"1{value}" for value in text.tolist()]
    return pd.Series(keys, index=text.index, dtype=text.dtype)


def _is_natural_number(value: str) -> bool:
    return 1 <= len(value) <= 30 and value.isascii() and value.isdigit()


def natural_rank(values: pd.Series) -> np.ndarray:
    """Integer ranks that sort exactly like ``natural_key(values)``, ranking each distinct value once (a bucket
    of interactions has many rows but few distinct users and items)."""
    codes, uniques = pd.factorize(as_text(values), use_na_sentinel=False)
    order = _natural_order(uniques)
    ranks = np.empty(len(order), dtype=np.int64)
    ranks[order] = np.arange(len(order), dtype=np.int64)
    return ranks[codes]


def _natural_order(uniques: Any) -> np.ndarray:
    """Positions of ``uniques`` in natural_key order, sorted by Arrow in C++ (UTF-8 byte order is code point
    order, as Python compares text); in Python for text Arrow cannot hold."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        text = pa.array(np.asarray(uniques, dtype=object), type=pa.large_string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeEncodeError):
        positions = sorted(range(len(uniques)), key=lambda position: _natural_sort_key(uniques[position]))
        return np.asarray(positions, dtype=np.int64)
    numeric = pc.fill_null(pc.match_substring_regex(text, "^[0-9]{1,30}$"), False)
    keys = pa.table(
        {
            "group": pc.if_else(numeric, 0, 1),
            "length": pc.if_else(numeric, pc.utf8_length(text), 0),
            "text": pc.fill_null(text, ""),
        }
    )
    order = pc.sort_indices(keys, sort_keys=[("group", "ascending"), ("length", "ascending"), ("text", "ascending")])
    return order.to_numpy()


def _natural_sort_key(value: Any) -> tuple[int, int, str]:
    # The order of natural_key: ids of 1 to 30 ASCII digits by length then text, then other ids by text; a null
    # is keyed like the empty text.
    if not isinstance(value, str):
        return (1, 0, "")
    if _is_natural_number(value):
        return (0, len(value), value)
    return (1, 0, value)


# --- timestamps ------------------------------------------------------------------------------------------------


def parse_local_datetimes(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Naive local date-times (strings or datetime objects) → (datetime64 values, mask of unparseable ones).

    A value with a UTC offset inside a "naive" column is a source error, not something to guess about: it counts
    as unparseable, whether every value of the column has one or only some.
    """
    text = as_text(values).str.strip()
    # Each distinct text is parsed once: a product's registered_at repeats on every option row.
    codes, uniques = pd.factorize(text, use_na_sentinel=True)
    distinct = _parse_naive(pd.Series(uniques, dtype=text.dtype))
    parsed = pd.Series(distinct.array.take(codes, allow_fill=True), index=text.index)
    bad = text.notna() & parsed.isna()
    return parsed, bad.astype(bool)


def _parse_naive(texts: pd.Series) -> pd.Series:
    """ISO 8601 texts as naive datetime64; NaT for unparseable ones and for ones that carry an offset."""
    try:
        parsed = pd.to_datetime(texts, errors="coerce", format="ISO8601")
    except ValueError:  # naive values and values with an offset in one column: look at each
        each = [pd.to_datetime(pd.Series([text]), errors="coerce", format="ISO8601") for text in texts]
        naive = [one.iat[0] if getattr(one.dt, "tz", None) is None else pd.NaT for one in each]
        return pd.Series(pd.to_datetime(pd.Series(naive, dtype=object)), index=texts.index)
    if getattr(parsed.dt, "tz", None) is not None:
        return pd.Series(pd.NaT, index=texts.index, dtype="datetime64[us]")
    return parsed


def local_to_epoch_seconds(values: pd.Series, time_zone: str) -> tuple[pd.Series, pd.Series]:
    """Naive local date-times in ``time_zone`` → (UTC epoch seconds as Int64, mask of bad values).

    Local times that do not exist or are ambiguous (daylight-saving changes) count as bad: guessing would put
    an event an hour off.
    """
    parsed, bad = parse_local_datetimes(values)
    localized = parsed.dt.tz_localize(time_zone, ambiguous="NaT", nonexistent="NaT")
    bad = bad | (parsed.notna() & localized.isna())
    seconds = (localized - _EPOCH) // pd.Timedelta(seconds=1)
    return seconds.astype("Int64"), bad.astype(bool)


def epoch_ms_to_seconds(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """UTC epoch milliseconds → (epoch seconds, floored, as Int64; mask of non-integer values)."""
    millis, bad = as_integer(values)
    return millis // 1000, bad


def outside(seconds: pd.Series, low: int, high: int) -> pd.Series:
    """Non-null values outside the half-open range [low, high)."""
    return (seconds.notna() & ((seconds < low) | (seconds >= high))).fillna(False).astype(bool)


# --- interactions ----------------------------------------------------------------------------------------------


def web_event_types(event_names: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """(EVENT_TYPE or NA, mask of known non-interactions, mask of unknown event names)."""
    # A handful of distinct names per chunk: each is normalised (" Product_View " still counts) and looked up once.
    codes, uniques = pd.factorize(as_text(event_names), use_na_sentinel=True)
    normalized = [name.strip().lower() for name in uniques.tolist()]
    event_types = np.array([*(WEB_EVENT_TYPES.get(name) for name in normalized), None], dtype=object)[codes]
    not_interaction = np.array([*(name in NON_INTERACTION_EVENTS for name in normalized), False])[codes]
    unknown = pd.isna(event_types) & ~not_interaction
    index = event_names.index
    return (
        pd.Series(event_types, index=index, dtype="str"),
        pd.Series(not_interaction, index=index),
        pd.Series(unknown, index=index),
    )


def order_status_rules(statuses: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(name of the exclusion rule per order line or NA, mask of unknown statuses)."""
    normalized = as_text(statuses).str.strip().str.lower()
    rules = normalized.map(EXCLUDED_STATUSES).astype("str")
    unknown = ~normalized.isin(PURCHASE_STATUSES) & rules.isna()
    return rules, unknown.astype(bool)


def device_from_user_agent(user_agents: pd.Series) -> pd.Series:
    """tablet / mobile / pc from a User-Agent string; NA when there is no user agent."""
    agents = as_text(user_agents)
    # A log has few distinct user agents: classify each once, then spread the answers.
    codes, uniques = pd.factorize(agents, use_na_sentinel=True)
    distinct = pd.Series(uniques, dtype="str")
    tablet = distinct.str.contains(_TABLET_UA, regex=True).fillna(False).astype(bool)
    mobile = distinct.str.contains(_MOBILE_UA, regex=True).fillna(False).astype(bool)
    answers = np.where(tablet, "tablet", np.where(mobile, "mobile", "pc")).astype(object)
    devices = np.full(len(agents), None, dtype=object)
    known = codes >= 0
    devices[known] = answers[codes[known]]
    return pd.Series(devices, index=agents.index, dtype="str")


def device_from_channel(channels: pd.Series, user_agents: pd.Series | None = None) -> tuple[pd.Series, pd.Series]:
    """(DEVICE from the order channel, mask of unknown non-null channels).

    A mobile channel becomes "tablet" when a user agent is known and says tablet; no channel falls back to the
    user agent alone.
    """
    names = as_text(channels).str.strip().str.lower()
    devices = names.map(CHANNEL_DEVICES).astype("str")
    unknown = names.notna() & devices.isna()
    if user_agents is not None:
        from_agent = device_from_user_agent(user_agents)
        devices = devices.mask((devices == "mobile") & (from_agent == "tablet"), "tablet")
        devices = devices.fillna(from_agent.where(names.isna()))
    return devices, unknown.astype(bool)


def event_value_from_unit_price(unit_prices: pd.Series) -> pd.Series:
    """Unit price in KRW → EVENT_VALUE text in thousand KRW with one decimal, rounded half up (15,950 → "16.0").

    Integer arithmetic, so no binary-float artefact ever reaches the CSV. Nulls stay null.
    """
    tenths = (unit_prices.astype("Int64") + 50) // 100
    whole = (tenths // 10).astype("str")
    decimal = (tenths % 10).astype("str")
    return (whole + "." + decimal).astype("str")


def session_owners(logins: pd.DataFrame) -> pd.Series:
    """session_id → member_id of the session's first login (earliest time, then smallest member id).

    ``logins`` has columns session_id, member_id, occurred_at_ms; rows with a null session or member are ignored.
    """
    frame = pd.DataFrame(
        {
            "session_id": as_text(logins["session_id"]),
            "member_id": as_text(logins["member_id"]),
            "ms": as_integer(logins["occurred_at_ms"])[0],
        }
    ).dropna(subset=["session_id", "member_id"])
    sessions, _ = pd.factorize(frame["session_id"])
    # Within each session: earliest time first (unknown times last), then the member id in natural order.
    order = np.lexsort((natural_rank(frame["member_id"]), sort_codes(frame["ms"]), sessions))
    first = order[np.r_[True, sessions[order][1:] != sessions[order][:-1]]] if len(order) else order
    return pd.Series(frame["member_id"].to_numpy()[first], index=frame["session_id"].to_numpy()[first], dtype="str")


def session_rates(stats: pd.DataFrame) -> pd.DataFrame:
    """Combines per-chunk session statistics (session_id, events, first_ms, last_ms) into one row per session,
    with ``events_per_minute`` = events / span in minutes, the span counted as at least one minute."""
    combined = stats.groupby("session_id", sort=True).agg(
        events=("events", "sum"), first_ms=("first_ms", "min"), last_ms=("last_ms", "max")
    )
    minutes = np.maximum((combined["last_ms"] - combined["first_ms"]).astype("float64") / 60_000.0, 1.0)
    return combined.assign(events_per_minute=combined["events"].astype("float64") / minutes)


def chunk_session_stats(session_ids: pd.Series, millis: pd.Series) -> pd.DataFrame:
    """Per-session partial statistics of one chunk: events, first_ms, last_ms (rows without either are ignored)."""
    frame = pd.DataFrame({"session_id": session_ids, "ms": millis}).dropna()
    grouped = frame.groupby("session_id", sort=False)["ms"]
    return pd.DataFrame({"events": grouped.size(), "first_ms": grouped.min(), "last_ms": grouped.max()}).reset_index()


def bot_sessions(rates: pd.DataFrame, events_per_minute: float) -> pd.Index:
    """Session ids faster than the threshold."""
    return rates.index[rates["events_per_minute"] > events_per_minute]


def attribute_users(
    member_ids: pd.Series, session_ids: pd.Series, owners: pd.Series, *, keep_anonymous: bool
) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Session stitching: (USER_ID, mask of events attributed to a member, mask of never-logged-in events).

    An event's own member_id wins; otherwise the member who logged in during the session, before or after the
    event; otherwise the session never logged in, and the session id becomes USER_ID only with keep_anonymous.
    """
    own = as_text(member_ids)
    sessions = as_text(session_ids)
    stitched = own.fillna(map_distinct(sessions, owners.to_dict()))
    anonymous = stitched.isna()
    users = stitched.fillna(sessions) if keep_anonymous else stitched
    return users, (~anonymous).astype(bool), anonymous.astype(bool)


def sort_interactions(
    interactions: pd.DataFrame, tiebreak: Iterable[str] = (), leading: Iterable[str] = ()
) -> pd.DataFrame:
    """Deterministic order: the ``leading`` columns, then user, time, event type, item (numeric ids numerically),
    then the ``tiebreak`` columns.

    One stable sort on integer keys (nulls last in each), which orders rows exactly as a stable multi-column
    ``sort_values`` would, without comparing strings row by row.
    """
    keys = [
        *(sort_codes(interactions[column]) for column in leading),
        natural_rank(interactions["USER_ID"]),
        sort_codes(interactions["TIMESTAMP"]),
        sort_codes(interactions["EVENT_TYPE"]),
        natural_rank(interactions["ITEM_ID"]),
        *(sort_codes(interactions[column]) for column in tiebreak),
    ]
    return interactions.take(np.lexsort(keys[::-1]))


def sort_codes(values: pd.Series) -> np.ndarray:
    """Integer codes that sort like the values themselves, nulls last (each distinct value compared once)."""
    codes, uniques = pd.factorize(values, sort=True, use_na_sentinel=True)
    return np.where(codes < 0, len(uniques), codes)


def text_value_set(values: Iterable[str]) -> Any:
    """A value set for ``is_in``: an Arrow array when Arrow can hold every value, else a Python set."""
    import pyarrow as pa

    items = list(values)
    try:
        return pa.array(items, type=pa.large_string())
    except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeEncodeError):
        return set(items)


def is_in(values: pd.Series, value_set: Any) -> np.ndarray:
    """Mask of the values found in ``value_set`` (from ``text_value_set``); nulls are never found.

    Arrow-backed text is matched in C++ against a value set built once, where ``Series.isin`` would rebuild it
    from Python objects on every call.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    text = as_text(values)
    arrow = _arrow_values(text)
    if isinstance(value_set, pa.Array) and arrow is not None:
        found = pc.is_in(arrow, value_set=value_set, skip_nulls=True)
        return pc.fill_null(found, False).to_numpy(zero_copy_only=False).astype(bool)
    members = value_set.to_pylist() if isinstance(value_set, pa.Array) else value_set
    return text.isin(list(members)).to_numpy(dtype=bool)


def map_distinct(values: pd.Series, mapping: dict[str, str]) -> pd.Series:
    """``values.map(mapping)`` as text, each distinct value looked up once (NA where unmapped or null)."""
    codes, uniques = pd.factorize(as_text(values), use_na_sentinel=True)
    # tolist() converts the Arrow-backed uniques in one call; iterating them boxes each value on its own.
    looked_up = np.array([*map(mapping.get, uniques.tolist()), None], dtype=object)
    return pd.Series(looked_up[codes], index=values.index, dtype="str")


# --- users -----------------------------------------------------------------------------------------------------


def age_at(birth_dates: pd.Series, on: dt.date) -> pd.Series:
    """Whole years between each birth date and ``on`` (Int64; NA for null birth dates)."""
    born = pd.to_datetime(birth_dates, errors="coerce")
    years = on.year - born.dt.year
    before_birthday = (born.dt.month > on.month) | ((born.dt.month == on.month) & (born.dt.day > on.day))
    return (years - before_birthday.astype("Int64")).astype("Int64")


def birth_dates_out_of_range(born: pd.Series, on: dt.date, earliest: str) -> np.ndarray:
    """Birth dates (``parse_dates`` output) before ``earliest`` or after ``on``: a typo in the source, not an age."""
    outside = (born < pd.Timestamp(earliest)) | (born > pd.Timestamp(on))
    return (born.notna() & outside).fillna(False).to_numpy(dtype=bool)


def parse_dates(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Dates (strings, dates or date-times) → (datetime64 at midnight, mask of unparseable ones)."""
    parsed, bad = parse_local_datetimes(values)
    return parsed.dt.normalize(), bad


def cup_size_problems(values: pd.Series) -> pd.Series:
    """Non-null cup sizes outside AA..G (after trimming and upper-casing)."""
    normalized = as_text(values).str.strip().str.upper()
    return (normalized.notna() & ~normalized.isin(CUP_SIZES)).astype(bool)


def normalize_cup_sizes(values: pd.Series) -> pd.Series:
    return as_text(values).str.strip().str.upper()


def normalize_band_sizes(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Band sizes as strings ("75", never 75 or "75.0"): (values, mask of values outside 60..100 step 5)."""
    numbers, invalid = as_integer(values)
    text = numbers.astype("str")
    unknown = invalid | (text.notna() & ~text.isin(BAND_SIZES))
    return text.mask(unknown), unknown.astype(bool)


# --- items -----------------------------------------------------------------------------------------------------


def join_sizes(sizes: Iterable[str], order: tuple[str, ...]) -> str | None:
    """Sizes an item comes in as one ``|``-joined value, sorted by ``order``, without duplicates; None if none."""
    rank = {size: position for position, size in enumerate(order)}
    unique = {size for size in sizes if isinstance(size, str) and size}
    if not unique:
        return None
    return "|".join(sorted(unique, key=lambda size: (rank.get(size, len(rank)), size)))


def flag_to_text(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """0/1 flags → "True"/"False" (categorical strings: Personalize ignores boolean columns); (values, invalid)."""
    numbers, invalid = as_integer(values)
    text = numbers.map({1: "True", 0: "False"}).astype("str")
    invalid = invalid | (numbers.notna() & text.isna()).fillna(False).astype(bool)
    return text.mask(invalid), invalid.astype(bool)
