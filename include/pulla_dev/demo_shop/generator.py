"""Deterministic synthetic data for the Pulla source tables: a shop with structure a recommender can learn.

The generator draws everything from numpy ``PCG64`` streams keyed by ``(seed, stream, day)``, never from
Python's ``hash()`` or the clock, so the same arguments give the same rows byte for byte on every machine.
Members, products and options are made at once (they are small); orders, order lines and click logs are made
one day at a time and handed out as batches, so memory stays flat however many days or how large a scale is
asked for.

What makes the data worth learning from: every member has a true cup and band size (drawn from a
Korean-market distribution, A–C cups and 70–80 bands most common) and a taste (a preferred cup type and a
liking or dislike for wires). Product views are drawn in proportion to popularity × fit × taste, where a
product that is not offered in the member's size keeps only a small weight, and carts favour products that
fit. So "people with a body like mine bought these" is in the data.

What makes it realistic to clean: anonymous sessions that log in half-way (the ``login`` row carries both
the session and the member; earlier rows have no member), sessions that never log in, bot sessions with
hundreds of product views a minute, test accounts and withdrawn members who still have events and orders,
cancelled and refunded orders, a few product views of deleted products (unknown ids) or with no product id
at all, missing user agents, and nullable attributes that really are null sometimes.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import numpy as np

from pulla_personalize.rules.sizes import BAND_SIZES as BAND_SIZE_TEXTS
from pulla_personalize.rules.sizes import CUP_SIZES

# --- calendar -----------------------------------------------------------------------------------------------

#: Korea has not observed daylight saving time since 1988, so Seoul is always UTC+9.
SEOUL_UTC_OFFSET_MS = 9 * 3_600_000
DAY_MS = 86_400_000
_EPOCH = datetime(1970, 1, 1)
_EPOCH_DATE = date(1970, 1, 1)


def seoul_midnight_ms(day: date) -> int:
    """UTC epoch milliseconds of 00:00 Asia/Seoul on ``day``."""
    return (day - _EPOCH_DATE).days * DAY_MS - SEOUL_UTC_OFFSET_MS


def seoul_naive(epoch_ms: int) -> datetime:
    """The naive Asia/Seoul wall-clock time of a UTC epoch-ms instant, to the second (TIMESTAMP columns)."""
    return _EPOCH + timedelta(seconds=(epoch_ms + SEOUL_UTC_OFFSET_MS) // 1000)


# --- the shop's vocabulary ----------------------------------------------------------------------------------

# CUP_SIZES and the band sizes are the pipeline's own (pulla_personalize.rules.sizes), the weights follow their
# order; the source tables hold band sizes as integers.
CUP_WEIGHTS = (0.07, 0.28, 0.31, 0.19, 0.08, 0.04, 0.02, 0.01)
BAND_SIZES = tuple(int(size) for size in BAND_SIZE_TEXTS)
BAND_WEIGHTS = (0.01, 0.07, 0.26, 0.34, 0.19, 0.08, 0.03, 0.01, 0.01)
N_SIZES = len(CUP_SIZES) * len(BAND_SIZES)

CUP_TYPES = ("full", "three_quarter", "half", "plunge", "balconette", "triangle")
CUP_TYPE_WORDS = ("풀컵", "3/4컵", "하프컵", "플런지", "발코넷", "삼각")
_REGULAR_CUP_TYPE_WEIGHTS = (0.30, 0.30, 0.12, 0.15, 0.13, 0.0)
_BRALETTE_CUP_TYPE_WEIGHTS = (0.25, 0.0, 0.15, 0.0, 0.0, 0.60)
MEMBER_CUP_TYPE_WEIGHTS = (0.30, 0.25, 0.10, 0.15, 0.10, 0.10)
#: A member's wire taste: 0 likes wireless, 1 likes wired, 2 does not care.
WIRE_TASTE_WEIGHTS = (0.40, 0.35, 0.25)
N_TASTES = len(CUP_TYPES) * len(WIRE_TASTE_WEIGHTS)

GORE_HEIGHTS = ("low", "mid", "high")
WIDTHS = ("narrow", "regular", "wide")
BRARET_LINES = ("basic", "long_line", "racerback")
PRODUCT_STATUSES = ("on_sale", "sold_out", "discontinued")

# (cups, bands) a product line is cut in; a product drops a few of the combinations.
SIZE_LINES = (
    (("A", "B", "C"), (70, 75, 80)),  # standard
    (("AA", "A", "B"), (65, 70, 75)),  # petite
    (("C", "D", "E", "F"), (70, 75, 80, 85)),  # full bust
    (("A", "B", "C", "D"), (65, 70, 75, 80, 85)),  # wide range
    (("D", "E", "F", "G"), (75, 80, 85, 90, 95, 100)),  # plus
)
_REGULAR_SIZE_LINE_WEIGHTS = (0.40, 0.14, 0.16, 0.22, 0.08)
_BRALETTE_SIZE_LINE_WEIGHTS = (0.50, 0.25, 0.05, 0.20, 0.0)

_NAME_PREFIXES = (
    "데일리",
    "에어리",
    "클래식",
    "시크릿",
    "로즈",
    "벨벳",
    "코지",
    "모닝",
    "문라이트",
    "플라워",
    "베이직",
)
_NAME_MATERIALS = ("레이스", "코튼", "모달", "심리스", "메쉬", "새틴", "실크", "스판")
_NAME_COLORS = ("블랙", "아이보리", "누드베이지", "핑크", "네이비", "라벤더", "와인")

_SURNAMES = ("김", "이", "박", "최", "정", "강", "조", "윤", "장", "임", "한", "오", "서", "신", "권")
_SURNAME_WEIGHTS = (0.22, 0.15, 0.09, 0.05, 0.05, 0.03, 0.03, 0.03, 0.03, 0.03, 0.03, 0.03, 0.03, 0.03, 0.21)
_GIVEN_SYLLABLES = (
    "지",
    "민",
    "서",
    "연",
    "수",
    "현",
    "은",
    "하",
    "윤",
    "예",
    "진",
    "유",
    "아",
    "영",
    "희",
    "경",
    "소",
)
_EMAIL_DOMAINS = ("naver.com", "gmail.com", "daum.net", "kakao.com", "hanmail.net", "nate.com")

CHANNELS = ("app_ios", "app_android", "mobile_web", "pc_web")
_CHANNEL_WEIGHTS = (0.30, 0.25, 0.30, 0.15)
#: User agents per channel: phones, tablets (iPad, Galaxy Tab) and desktop browsers, as real logs show them.
USER_AGENTS: dict[str, tuple[str, ...]] = {
    "app_ios": (
        "PullaApp/4.2.1 (iPhone; iOS 17.5.1; Scale/3.00)",
        "PullaApp/4.2.1 (iPhone; iOS 18.1; Scale/3.00)",
        "PullaApp/4.1.0 (iPad; iPadOS 17.4; Scale/2.00)",
    ),
    "app_android": (
        "Mozilla/5.0 (Linux; Android 14; SM-S921N Build/UP1A.231005.007; wv) AppleWebKit/537.36"
        " (KHTML, like Gecko) Version/4.0 Chrome/125.0.6422.165 Mobile Safari/537.36 PullaApp/4.2.0",
        "Mozilla/5.0 (Linux; Android 13; SM-A536N Build/TP1A.220624.014; wv) AppleWebKit/537.36"
        " (KHTML, like Gecko) Version/4.0 Chrome/124.0.6367.179 Mobile Safari/537.36 PullaApp/4.1.3",
        "Mozilla/5.0 (Linux; Android 13; SM-X710N Build/TP1A.220624.014; wv) AppleWebKit/537.36"
        " (KHTML, like Gecko) Version/4.0 Chrome/124.0.6367.179 Safari/537.36 PullaApp/4.1.3",
    ),
    "mobile_web": (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko)"
        " Version/17.5 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Linux; Android 14; SM-S918N) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/25.0"
        " Chrome/121.0.0.0 Mobile Safari/537.36",
        "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5"
        " Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko)"
        " Mobile/15E148 KAKAOTALK 10.8.0",
        "Mozilla/5.0 (Linux; Android 13; SM-X810N) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0"
        " Safari/537.36",
    ),
    "pc_web": (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0"
        " Safari/537.36",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0"
        " Safari/537.36 Edg/126.0.0.0",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)"
        " Version/17.5 Safari/605.1.15",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0"
        " Whale/3.26.244.21 Safari/537.36",
    ),
}
BOT_USER_AGENTS = (
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (compatible; Yeti/1.1; +https://naver.me/spd)",
    "python-requests/2.32.3",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/124.0.0.0 Safari/537.36",
    "Scrapy/2.11.2 (+https://scrapy.org)",
)
EVENT_NAMES = ("page_view", "product_view", "add_to_cart", "wishlist", "search", "login", "logout")
_PAGE, _VIEW, _CART, _WISH, _SEARCH, _LOGIN, _LOGOUT = range(len(EVENT_NAMES))

# Session kinds: logged in throughout (apps keep the login), anonymous then logging in, never logging in.
_LOGGED_IN, _LOGS_IN, _ANONYMOUS = 0, 1, 2
_MEMBER_SESSION_KIND_WEIGHTS = (0.50, 0.30, 0.20)

# --- volume and behaviour knobs (scale 1 = the numbers below) -----------------------------------------------

MEMBERS_PER_SCALE = 1_000
PRODUCTS_PER_SCALE = 300
WEB_LOGS_PER_SCALE_PER_30_DAYS = 100_000
BOT_SESSIONS_PER_SCALE_PER_30_DAYS = 6
# At tiny scales keep enough rows for every trap to appear.
MIN_MEMBERS = 40
MIN_PRODUCTS = 20
#: Mean web_logs rows per human session with the behaviour below (measured): turns row targets into sessions.
_ROWS_PER_HUMAN_SESSION = 9.7
_VISITOR_SESSION_SHARE = 0.2
#: Weight left to a product that is not offered in the viewer's size (1.0 when it is).
NON_FIT_WEIGHT = 0.06
_CUP_TYPE_MATCH = 3.0
_WIRE_MATCH, _WIRE_MISMATCH = 2.5, 0.4
_CART_IF_FITS, _CART_IF_NOT = 0.09, 0.015
_ORDER_IF_CART = 0.3
#: Hour-of-day weights of session starts in Seoul: quiet at night, peaks at lunch and late evening.
_HOUR_WEIGHTS = (3, 2, 1, 1, 1, 1, 2, 3, 4, 5, 5, 6, 8, 7, 6, 6, 6, 6, 7, 8, 10, 12, 11, 7)

# Independent random streams, so adding draws to one part never shifts the others.
_STREAM_PRODUCTS, _STREAM_MEMBERS, _STREAM_BOTS, _STREAM_DAY = 1, 2, 3, 10


def _rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, *keys])))


def _normalized(weights: tuple[float, ...]) -> np.ndarray:
    array = np.asarray(weights, dtype=float)
    return array / array.sum()


@dataclass(frozen=True)
class SeedConfig:
    """What to generate: ``days`` days of activity ending before 00:00 Asia/Seoul on ``end_date``."""

    scale: float = 1.0
    seed: int = 42
    end_date: date = date(2026, 1, 1)
    days: int = 30

    def __post_init__(self) -> None:
        if not (self.scale > 0 and np.isfinite(self.scale)):
            raise ValueError(f"scale must be a positive number, got {self.scale!r}")
        if self.scale > 1000:
            raise ValueError(f"scale {self.scale} is beyond what this generator is meant for (at most 1000)")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")
        if not isinstance(self.days, int) or not 1 <= self.days <= 3660:
            raise ValueError(f"days must be an integer from 1 to 3660, got {self.days!r}")
        if not isinstance(self.end_date, date) or isinstance(self.end_date, datetime):
            raise ValueError(f"end_date must be a date, got {self.end_date!r}")

    @property
    def start_date(self) -> date:
        return self.end_date - timedelta(days=self.days)

    @property
    def n_members(self) -> int:
        return max(MIN_MEMBERS, round(MEMBERS_PER_SCALE * self.scale))

    @property
    def n_products(self) -> int:
        return max(MIN_PRODUCTS, round(PRODUCTS_PER_SCALE * self.scale))

    @property
    def target_web_logs(self) -> float:
        return WEB_LOGS_PER_SCALE_PER_30_DAYS * self.scale * self.days / 30


@dataclass
class Catalog:
    """Products and their options as arrays (index ``i`` is product ``product_ids[i]``)."""

    product_ids: np.ndarray
    cup_type: np.ndarray  # index into CUP_TYPES, -1 when null
    wire: np.ndarray  # 0/1, -1 when null
    price: np.ndarray
    status: np.ndarray  # index into PRODUCT_STATUSES
    registered_ms: np.ndarray  # UTC epoch ms; minimum int64 when null (treated as always available)
    popularity: np.ndarray
    offers: np.ndarray  # bool (n_products, N_SIZES): offered in that size
    option_ids: np.ndarray  # int64 (n_products, N_SIZES): option id, 0 when not offered
    cartable: np.ndarray  # on sale and has options
    rows: list[tuple] = field(default_factory=list)
    option_rows: list[tuple] = field(default_factory=list)


@dataclass
class Members:
    """Members as arrays (index ``i`` is member ``member_ids[i]``) plus their table rows."""

    member_ids: np.ndarray
    size_idx: np.ndarray  # true size (known to the generator even when the table says null)
    taste_idx: np.ndarray  # preferred cup type × wire taste
    active_from_ms: np.ndarray
    active_to_ms: np.ndarray
    activity: np.ndarray
    channel: np.ndarray
    user_agent: np.ndarray  # index into the channel's user agents
    is_test: np.ndarray
    withdrawn: np.ndarray
    rows: list[tuple] = field(default_factory=list)


@dataclass
class DayBatch:
    """One day's rows for orders, order_items and web_logs, in table column order."""

    orders: list[tuple]
    order_items: list[tuple]
    web_logs: list[tuple]


def _size_index(cup: str, band: int) -> int:
    return CUP_SIZES.index(cup) * len(BAND_SIZES) + BAND_SIZES.index(band)


def _sometimes(rng: np.random.Generator, n: int, share: float) -> np.ndarray:
    """A mask true for about ``share`` of ``n`` items, and for at least one, so small demos show the case too."""
    mask = rng.random(n) < share
    mask[rng.integers(0, n)] = True
    return mask


def _choice(rng: np.random.Generator, n: int, weights: tuple[float, ...]) -> np.ndarray:
    return rng.choice(len(weights), size=n, p=_normalized(weights))


# --- products -----------------------------------------------------------------------------------------------


def make_catalog(config: SeedConfig) -> Catalog:
    rng = _rng(config.seed, _STREAM_PRODUCTS)
    n = config.n_products
    start_ms, end_ms = seoul_midnight_ms(config.start_date), seoul_midnight_ms(config.end_date)
    window_ms = end_ms - start_ms

    is_bralette = rng.random(n) < 0.25
    cup_type = np.where(
        is_bralette, _choice(rng, n, _BRALETTE_CUP_TYPE_WEIGHTS), _choice(rng, n, _REGULAR_CUP_TYPE_WEIGHTS)
    )
    wire = np.where(is_bralette, rng.random(n) < 0.03, rng.random(n) < 0.7).astype(np.int64)
    gore_height = _choice(rng, n, (0.3, 0.5, 0.2))
    gore_height = np.where(cup_type == CUP_TYPES.index("plunge"), 0, gore_height)
    gore_width = _choice(rng, n, (0.3, 0.5, 0.2))
    braret_line = _choice(rng, n, (0.5, 0.3, 0.2))
    bsw = _choice(rng, n, (0.25, 0.5, 0.25))
    # Nullable attributes are null sometimes: the shop's back office leaves fields empty.
    cup_type_null = _sometimes(rng, n, 0.03)
    wire_null = _sometimes(rng, n, 0.04)
    braret_null = _sometimes(rng, n, 0.02)
    gore_height_null = _sometimes(rng, n, 0.05)
    gore_width_null = _sometimes(rng, n, 0.15)
    braret_line_null = ~is_bralette | _sometimes(rng, n, 0.10)
    bsw_null = _sometimes(rng, n, 0.20)

    price = np.where(is_bralette, rng.integers(15, 36, n), rng.integers(19, 70, n)) * 1000 + 900
    status = _choice(rng, n, (0.85, 0.10, 0.05))
    placement = rng.random(n)
    registered_ms = np.where(
        placement < 0.13,
        start_ms + (rng.random(n) * 0.9 * window_ms).astype(np.int64),  # new this window
        start_ms - (rng.random(n) * 730 * DAY_MS).astype(np.int64) - DAY_MS,
    )
    registered_null = placement > 0.98
    registered_null[n - 1] = True  # at least one product without a registration time, at any scale
    manufactured_days_before = rng.integers(20, 200, n)
    manufactured_null = rng.random(n) < 0.10
    updated_fraction = rng.random(n)
    popularity = rng.lognormal(0.0, 1.0, n)

    size_line = np.where(
        is_bralette,
        _choice(rng, n, _BRALETTE_SIZE_LINE_WEIGHTS),
        _choice(rng, n, _REGULAR_SIZE_LINE_WEIGHTS),
    )
    dropped = rng.random((n, N_SIZES)) < 0.10
    stock = np.where(rng.random((n, N_SIZES)) < 0.12, 0, rng.integers(1, 120, (n, N_SIZES)))
    n_without_options = max(1, round(0.015 * n))
    without_options = rng.choice(n, size=n_without_options, replace=False)

    offers = np.zeros((n, N_SIZES), dtype=bool)
    for index in range(n):
        cups, bands = SIZE_LINES[size_line[index]]
        line_sizes = [_size_index(cup, band) for cup in cups for band in bands]
        kept = [size for size in line_sizes if not dropped[index, size]] or line_sizes[:1]
        offers[index, kept] = True
    offers[without_options] = False
    status[without_options] = PRODUCT_STATUSES.index("discontinued")

    option_ids = np.zeros((n, N_SIZES), dtype=np.int64)
    option_ids[offers] = np.arange(1, int(offers.sum()) + 1)
    product_ids = np.arange(10_001, 10_001 + n, dtype=np.int64)

    name_parts = rng.integers(0, 1 << 30, (n, 6))
    rows: list[tuple] = []
    for index in range(n):
        registered = None if registered_null[index] else int(registered_ms[index])
        reference_ms = registered if registered is not None else start_ms - 400 * DAY_MS
        manufactured = (
            None
            if manufactured_null[index]
            else (seoul_naive(reference_ms) - timedelta(days=int(manufactured_days_before[index]))).date()
        )
        updated = reference_ms + int(updated_fraction[index] * (end_ms - 1000 - reference_ms))
        rows.append(
            (
                int(product_ids[index]),
                _product_name(name_parts[index], bool(is_bralette[index]), int(cup_type[index]), int(wire[index])),
                None if cup_type_null[index] else CUP_TYPES[cup_type[index]],
                None if wire_null[index] else int(wire[index]),
                None if braret_null[index] else int(is_bralette[index]),
                None if gore_height_null[index] else GORE_HEIGHTS[gore_height[index]],
                None if gore_width_null[index] else WIDTHS[gore_width[index]],
                None if braret_line_null[index] else BRARET_LINES[braret_line[index]],
                None if bsw_null[index] else WIDTHS[bsw[index]],
                int(price[index]),
                PRODUCT_STATUSES[status[index]],
                None if registered is None else seoul_naive(registered),
                manufactured,
                seoul_naive(updated),
            )
        )
    sold_out = status == PRODUCT_STATUSES.index("sold_out")
    option_rows = [
        (
            int(option_ids[index, size]),
            int(product_ids[index]),
            CUP_SIZES[size // len(BAND_SIZES)],
            BAND_SIZES[size % len(BAND_SIZES)],
            0 if sold_out[index] else int(stock[index, size]),
        )
        for index, size in zip(*np.nonzero(offers), strict=True)
    ]
    option_rows.sort()
    return Catalog(
        product_ids=product_ids,
        cup_type=np.where(cup_type_null, -1, cup_type),
        wire=np.where(wire_null, -1, wire),
        price=price,
        status=status,
        registered_ms=np.where(registered_null, np.iinfo(np.int64).min, registered_ms),
        popularity=popularity,
        offers=offers,
        option_ids=option_ids,
        cartable=(status == PRODUCT_STATUSES.index("on_sale")) & offers.any(axis=1),
        rows=rows,
        option_rows=option_rows,
    )


def _product_name(parts: np.ndarray, is_bralette: bool, cup_type: int, wire: int) -> str:
    """A Korean product name composed from parts, e.g. "데일리 노와이어 레이스 브라렛"."""
    words = []
    if parts[0] % 3:
        words.append(_NAME_PREFIXES[parts[1] % len(_NAME_PREFIXES)])
    if wire == 0 and (is_bralette or parts[2] % 2):
        words.append("노와이어")
    elif wire == 1 and parts[2] % 3 == 0:
        words.append("와이어")
    words.append(_NAME_MATERIALS[parts[3] % len(_NAME_MATERIALS)])
    if is_bralette:
        words.append("브라렛")
    else:
        words.append(CUP_TYPE_WORDS[cup_type])
        words.append(("브라", "브라", "브래지어", "브라 세트")[parts[4] % 4])
    if parts[5] % 4 == 0:
        words.append(f"({_NAME_COLORS[parts[5] // 4 % len(_NAME_COLORS)]})")
    return " ".join(words)


# --- members ------------------------------------------------------------------------------------------------


def make_members(config: SeedConfig) -> Members:
    rng = _rng(config.seed, _STREAM_MEMBERS)
    n = config.n_members
    start_ms, end_ms = seoul_midnight_ms(config.start_date), seoul_midnight_ms(config.end_date)
    window_ms = end_ms - start_ms

    cup = _choice(rng, n, CUP_WEIGHTS)
    band = _choice(rng, n, BAND_WEIGHTS)
    size_null = rng.random(n)
    size_null[rng.integers(0, n)] = 0.0  # at least one member who never gave sizes
    taste = _choice(rng, n, MEMBER_CUP_TYPE_WEIGHTS) * len(WIRE_TASTE_WEIGHTS) + _choice(rng, n, WIRE_TASTE_WEIGHTS)

    special = rng.permutation(n)
    n_test = max(2, round(0.015 * n))
    n_withdrawn = max(2, round(0.03 * n))
    is_test = np.zeros(n, dtype=bool)
    is_test[special[:n_test]] = True
    withdrawn = np.zeros(n, dtype=bool)
    withdrawn[special[n_test : n_test + n_withdrawn]] = True

    joined_in_window = (rng.random(n) < 0.12) & ~is_test & ~withdrawn
    created_ms = np.where(
        joined_in_window,
        start_ms + (rng.random(n) * 0.85 * window_ms).astype(np.int64),
        start_ms - (rng.random(n) * 730 * DAY_MS).astype(np.int64) - 3_600_000,
    )
    created_ms -= created_ms % 1000
    deleted_ms = start_ms + ((0.4 + 0.55 * rng.random(n)) * window_ms).astype(np.int64)
    deleted_ms -= deleted_ms % 1000
    updated_fraction = rng.random(n)
    age = np.clip(np.round(rng.normal(32, 8, n)), 18, 65).astype(np.int64)
    birthday_offset = rng.integers(0, 365, n)
    birth_null = _sometimes(rng, n, 0.15)
    phone_null = _sometimes(rng, n, 0.05)
    phone_digits = rng.integers(0, 10_000, (n, 2))
    surname = _choice(rng, n, _SURNAME_WEIGHTS)
    given = rng.integers(0, len(_GIVEN_SYLLABLES), (n, 2))
    domain = rng.integers(0, len(_EMAIL_DOMAINS), n)
    activity = rng.lognormal(0.0, 0.9, n)
    activity /= activity.mean()
    # Test accounts are busy (QA clicks through everything); withdrawn members were active before leaving.
    activity = np.where(is_test, activity * 4 + 2, activity)
    activity = np.where(withdrawn, activity * 2 + 1, activity)
    channel = _choice(rng, n, _CHANNEL_WEIGHTS)
    user_agent = rng.integers(0, 1 << 30, n)

    member_ids = np.arange(1, n + 1, dtype=np.int64)
    rows: list[tuple] = []
    test_number = 0
    for index in range(n):
        member_id = int(member_ids[index])
        if is_test[index]:
            test_number += 1
            name, email = f"테스트계정{test_number:02d}", f"qa{test_number:02d}@pulla.co.kr"
        else:
            name = _SURNAMES[surname[index]] + "".join(_GIVEN_SYLLABLES[s] for s in given[index])
            email = f"user{member_id:07d}@{_EMAIL_DOMAINS[domain[index]]}"
        created = int(created_ms[index])
        deleted = int(deleted_ms[index]) if withdrawn[index] else None
        last_change = deleted if deleted is not None else end_ms - 1000
        updated = deleted if deleted is not None else created + int(updated_fraction[index] * (last_change - created))
        birth = None
        if not birth_null[index]:
            birth = date(config.end_date.year - int(age[index]), 1, 1) + timedelta(days=int(birthday_offset[index]))
        rows.append(
            (
                member_id,
                email,
                name,
                None if phone_null[index] else f"010-{phone_digits[index, 0]:04d}-{phone_digits[index, 1]:04d}",
                birth,
                None if size_null[index] < 0.10 else CUP_SIZES[cup[index]],
                None if size_null[index] < 0.13 else BAND_SIZES[band[index]],
                int(is_test[index]),
                seoul_naive(created),
                seoul_naive(updated),
                None if deleted is None else seoul_naive(deleted),
            )
        )
    return Members(
        member_ids=member_ids,
        size_idx=cup * len(BAND_SIZES) + band,
        taste_idx=taste,
        active_from_ms=created_ms,
        # Withdrawn members' last session starts well before they leave.
        active_to_ms=np.where(withdrawn, deleted_ms - 2 * 3_600_000, end_ms),
        activity=activity,
        channel=channel,
        user_agent=user_agent,
        is_test=is_test,
        withdrawn=withdrawn,
        rows=rows,
    )


# --- activity -----------------------------------------------------------------------------------------------


class _ProductSampler:
    """Draws products for viewers in proportion to popularity × fit to their size × taste."""

    def __init__(self, catalog: Catalog) -> None:
        self.fit = np.where(catalog.offers.T, 1.0, NON_FIT_WEIGHT)  # (N_SIZES, n_products)
        taste = np.empty((N_TASTES, len(catalog.product_ids)))
        for preferred_cup_type in range(len(CUP_TYPES)):
            cup_factor = np.where(catalog.cup_type == preferred_cup_type, _CUP_TYPE_MATCH, 1.0)
            for wire_taste in range(len(WIRE_TASTE_WEIGHTS)):
                if wire_taste == 2:
                    wire_factor = np.ones(len(catalog.product_ids))
                else:
                    wire_factor = np.where(
                        catalog.wire < 0,
                        1.0,
                        np.where(catalog.wire == wire_taste, _WIRE_MATCH, _WIRE_MISMATCH),
                    )
                index = preferred_cup_type * len(WIRE_TASTE_WEIGHTS) + wire_taste
                taste[index] = catalog.popularity * cup_factor * wire_factor
        self.taste = taste

    def draw(self, rng: np.random.Generator, size_idx: np.ndarray, taste_idx: np.ndarray) -> np.ndarray:
        profile = size_idx * N_TASTES + taste_idx
        uniforms = rng.random(len(profile))
        chosen = np.empty(len(profile), dtype=np.int64)
        order = np.argsort(profile, kind="stable")
        keys, starts = np.unique(profile[order], return_index=True)
        bounds = [*starts.tolist(), len(order)]
        for number, key in enumerate(keys.tolist()):
            members_of_group = order[bounds[number] : bounds[number + 1]]
            cumulative = np.cumsum(self.fit[key // N_TASTES] * self.taste[key % N_TASTES])
            picked = np.searchsorted(cumulative, uniforms[members_of_group] * cumulative[-1], side="right")
            chosen[members_of_group] = np.minimum(picked, len(cumulative) - 1)
        return chosen


class ActivityGenerator:
    """Makes one day of sessions, click logs, orders and order lines at a time."""

    def __init__(self, config: SeedConfig, catalog: Catalog, members: Members) -> None:
        self.config = config
        self.catalog = catalog
        self.members = members
        self.sampler = _ProductSampler(catalog)
        self.start_ms = seoul_midnight_ms(config.start_date)
        self.end_ms = seoul_midnight_ms(config.end_date)
        self.next_log_id = 1
        self.next_order_id = 1
        self.next_order_item_id = 1
        self.user_agents = [ua for channel in CHANNELS for ua in USER_AGENTS[channel]]
        self.ua_offset = np.cumsum([0] + [len(USER_AGENTS[channel]) for channel in CHANNELS])[:-1]
        self.ua_count = np.array([len(USER_AGENTS[channel]) for channel in CHANNELS])
        self.hour_p = _normalized(_HOUR_WEIGHTS)
        self.old_products = np.flatnonzero(catalog.registered_ms < self.start_ms)
        # Every test account (on the first day) and every withdrawn member (on their last active day) gets one
        # session that ends in an order, so even a tiny demo has these traps with orders behind them.
        last_active_day = (members.active_to_ms - 1 - self.start_ms) // DAY_MS
        forced_day = np.where(members.withdrawn, last_active_day, 0)
        forced = np.flatnonzero(members.is_test | members.withdrawn)
        self.ordering_sessions = {
            int(day): forced[forced_day[forced] == day] for day in np.unique(forced_day[forced]).tolist()
        }

        n_bots = max(1, round(BOT_SESSIONS_PER_SCALE_PER_30_DAYS * config.scale * config.days / 30))
        self.bot_days = np.sort(_rng(config.seed, _STREAM_BOTS).integers(0, config.days, n_bots))
        bot_rows_per_day = 400 * n_bots / config.days
        human_rows_per_day = max(config.target_web_logs / config.days - bot_rows_per_day, 0.0)
        sessions_per_day = human_rows_per_day / _ROWS_PER_HUMAN_SESSION
        self.visitor_sessions_per_day = _VISITOR_SESSION_SHARE * sessions_per_day
        self.member_session_rate = (1 - _VISITOR_SESSION_SHARE) * sessions_per_day / len(members.member_ids)

    def days(self) -> Iterator[DayBatch]:
        for day in range(self.config.days):
            yield self._day(day)

    def crawler_sessions_on_later_day(self, day: int) -> int:
        """How many crawler sessions come on ``day``, a day index past the seeded window (living_shop): Poisson at
        the window's rate, from a stream of that day alone, so the count does not depend on which days are made
        with it."""
        rate = BOT_SESSIONS_PER_SCALE_PER_30_DAYS * self.config.scale / 30
        return int(_rng(self.config.seed, _STREAM_BOTS, day).poisson(rate))

    def _session_starts(self, rng: np.random.Generator, n: int, day_start: int) -> np.ndarray:
        hours = rng.choice(24, size=n, p=self.hour_p)
        return day_start + hours * 3_600_000 + rng.integers(0, 3_600_000, n)

    def _day(self, day: int) -> DayBatch:
        rng = _rng(self.config.seed, _STREAM_DAY, day)
        members, catalog = self.members, self.catalog
        day_start = self.start_ms + day * DAY_MS
        day_end = day_start + DAY_MS

        # Sessions of members, then of visitors who are not (or not recognisably) members.
        low = np.maximum(members.active_from_ms, day_start)
        high = np.minimum(members.active_to_ms, day_end)
        rate = np.where(high > low, self.member_session_rate * members.activity, 0.0)
        ordering_members = self.ordering_sessions.get(day, np.empty(0, dtype=np.int64))
        member_of_session = np.concatenate(
            [np.repeat(np.arange(len(members.member_ids)), rng.poisson(rate)), ordering_members]
        )
        n_member_sessions = len(member_of_session)
        ordering = np.arange(n_member_sessions - len(ordering_members), n_member_sessions)
        starts = self._session_starts(rng, n_member_sessions, day_start)
        session_low, session_high = low[member_of_session], high[member_of_session]
        outside = (starts < session_low) | (starts >= session_high)
        inside = session_low + (rng.random(n_member_sessions) * (session_high - session_low)).astype(np.int64)
        starts = np.where(outside, inside, starts)
        kind = _choice(rng, n_member_sessions, _MEMBER_SESSION_KIND_WEIGHTS)
        kind[ordering] = _LOGGED_IN
        own_device = rng.random(n_member_sessions) < 0.85
        channel = np.where(
            own_device, members.channel[member_of_session], _choice(rng, n_member_sessions, _CHANNEL_WEIGHTS)
        )
        ua_pick = np.where(
            own_device, members.user_agent[member_of_session], rng.integers(0, 1 << 30, n_member_sessions)
        )

        n_visitors = int(rng.poisson(self.visitor_sessions_per_day))
        visitor_size = _choice(rng, n_visitors, CUP_WEIGHTS) * len(BAND_SIZES) + _choice(rng, n_visitors, BAND_WEIGHTS)
        visitor_taste = _choice(rng, n_visitors, MEMBER_CUP_TYPE_WEIGHTS) * len(WIRE_TASTE_WEIGHTS) + _choice(
            rng, n_visitors, WIRE_TASTE_WEIGHTS
        )
        visitor_channel = _choice(rng, n_visitors, _CHANNEL_WEIGHTS)

        session_member = np.concatenate([member_of_session, np.full(n_visitors, -1)])
        session_size = np.concatenate([members.size_idx[member_of_session], visitor_size])
        session_taste = np.concatenate([members.taste_idx[member_of_session], visitor_taste])
        session_start = np.concatenate([starts, self._session_starts(rng, n_visitors, day_start)])
        session_kind = np.concatenate([kind, np.full(n_visitors, _ANONYMOUS)])
        session_channel = np.concatenate([channel, visitor_channel])
        session_ua = np.concatenate([ua_pick, rng.integers(0, 1 << 30, n_visitors)])
        n_sessions = len(session_member)
        session_ua = self.ua_offset[session_channel] + session_ua % self.ua_count[session_channel]
        session_ua = np.where(rng.random(n_sessions) < 0.02, -1, session_ua)  # some requests carry no user agent
        session_uuid = _uuids(rng, n_sessions)

        n_views = rng.geometric(0.2, n_sessions)
        login_at = np.where(session_kind == _LOGS_IN, rng.integers(1, n_views + 1), -1)
        has_search = rng.random(n_sessions) < 0.3
        has_logout = (session_kind != _ANONYMOUS) & (rng.random(n_sessions) < 0.1)

        # The skeleton of every session: events keyed by their place in the session, sorted, then timed.
        view_session = np.repeat(np.arange(n_sessions), n_views)
        view_number = np.arange(len(view_session)) - np.repeat(np.cumsum(n_views) - n_views, n_views)
        view_index = np.arange(len(view_session))
        page_before_view = rng.random(len(view_session)) < 0.5
        sessions = np.arange(n_sessions)
        logs_in, searches, logs_out = sessions[login_at >= 0], sessions[has_search], sessions[has_logout]
        parts = [
            # (session, key, event, view index)
            (sessions, np.full(n_sessions, -2), _PAGE, -1),
            (searches, np.full(len(searches), -1), _SEARCH, -1),
            (view_session[page_before_view], 10 * view_number[page_before_view] + 1, _PAGE, -1),
            (view_session, 10 * view_number + 2, _VIEW, view_index),
            (view_session, 10 * view_number + 3, _CART, view_index),
            (view_session, 10 * view_number + 4, _WISH, view_index),
            (logs_in, 10 * login_at[logs_in], _LOGIN, -1),
            (logs_out, 10 * n_views[logs_out] + 5, _LOGOUT, -1),
        ]
        event_session = np.concatenate([p[0] for p in parts])
        event_key = np.concatenate([p[1] for p in parts])
        event_name = np.concatenate([np.full(len(p[0]), p[2]) for p in parts])
        event_view = np.concatenate([np.broadcast_to(np.asarray(p[3]), len(p[0])) for p in parts])
        order = np.lexsort((event_key, event_session))
        event_session, event_key = event_session[order], event_key[order]
        event_name, event_view = event_name[order], event_view[order]

        quick = (event_name == _CART) | (event_name == _WISH)
        gaps = np.where(quick, 1500 + rng.exponential(4000, len(order)), 2000 + rng.exponential(18000, len(order)))
        gaps = gaps.astype(np.int64)
        session_length = np.bincount(event_session, minlength=n_sessions)
        first = np.cumsum(session_length) - session_length
        gaps[first] = 0
        elapsed = np.cumsum(gaps)
        event_time = session_start[event_session] + elapsed - np.repeat(elapsed[first], session_length)

        # Products for the views, drawn at the time of the view among products already registered.
        view_time = np.empty(len(view_session), dtype=np.int64)
        is_view = event_name == _VIEW
        view_time[event_view[is_view]] = event_time[is_view]
        view_product = self.sampler.draw(rng, session_size[view_session], session_taste[view_session])
        for _ in range(4):
            too_new = np.flatnonzero(catalog.registered_ms[view_product] > view_time)
            if not len(too_new):
                break
            view_product[too_new] = self.sampler.draw(
                rng, session_size[view_session[too_new]], session_taste[view_session[too_new]]
            )
        too_new = np.flatnonzero(catalog.registered_ms[view_product] > view_time)
        view_product[too_new] = self.old_products[rng.integers(0, len(self.old_products), len(too_new))]
        first_views = (np.cumsum(n_views) - n_views)[ordering]
        view_product[first_views] = self._fitting_old_products(rng, session_size[ordering])
        view_product_id = catalog.product_ids[view_product].copy()
        # Logging bugs: a few views of deleted products (unknown ids) and a few with no product id.
        glitch = rng.random(len(view_session))
        glitch[first_views] = 1.0
        unknown = glitch < 0.004
        view_product_id[unknown] = catalog.product_ids[-1] + rng.integers(1, 50, int(unknown.sum()))
        no_product = (glitch >= 0.004) & (glitch < 0.006)
        known = ~unknown & ~no_product

        fits = catalog.offers[view_product, session_size[view_session]]
        cart_chance = np.where(catalog.cartable[view_product] & known, np.where(fits, _CART_IF_FITS, _CART_IF_NOT), 0)
        carted = rng.random(len(view_session)) < cart_chance
        carted[first_views] = True
        wished = known & (rng.random(len(view_session)) < 0.05)

        keep = np.ones(len(event_name), dtype=bool)
        keep[event_name == _CART] = carted[event_view[event_name == _CART]]
        keep[event_name == _WISH] = wished[event_view[event_name == _WISH]]
        keep &= event_time < self.end_ms
        event_session, event_key, event_name = event_session[keep], event_key[keep], event_name[keep]
        event_view, event_time = event_view[keep], event_time[keep]

        kind_of_event = session_kind[event_session]
        member_known = (kind_of_event == _LOGGED_IN) | (
            (kind_of_event == _LOGS_IN) & (event_key >= 10 * login_at[event_session])
        )
        event_member = np.where(member_known, members.member_ids[session_member[event_session]], -1)
        has_product = event_view >= 0
        event_product = np.full(len(event_name), -1, dtype=np.int64)
        event_product[has_product] = np.where(
            no_product[event_view[has_product]], -1, view_product_id[event_view[has_product]]
        )

        batch = DayBatch(orders=[], order_items=[], web_logs=[])
        self._orders(rng, batch, event_session, event_name, event_view, event_time, view_product,
                      session_member, session_kind, session_size, session_channel, n_sessions, ordering)  # fmt: skip

        # Bots: hundreds of product views a minute from one session, no member, a crawler's user agent.
        columns = [event_time, event_session, event_member, event_name, event_product, session_ua[event_session]]
        session_ids = session_uuid
        for _ in range(int((self.bot_days == day).sum())):
            bot_columns, bot_session_id = self._bot_session(rng, day_start, len(session_ids))
            columns = [np.concatenate([mine, theirs]) for mine, theirs in zip(columns, bot_columns, strict=True)]
            session_ids.append(bot_session_id)

        # Log ids follow time, as an append-only log table's would; ties keep session order (stable sort).
        order = np.argsort(columns[0], kind="stable")
        time, session, member, name, product, agent = (column[order].tolist() for column in columns)
        agents = [*self.user_agents, *BOT_USER_AGENTS]
        first_id = self.next_log_id
        batch.web_logs = [
            (
                first_id + number,
                session_ids[session[number]],
                None if member[number] < 0 else member[number],
                EVENT_NAMES[name[number]],
                None if product[number] < 0 else product[number],
                None if agent[number] < 0 else agents[agent[number]],
                time[number],
            )
            for number in range(len(time))
        ]
        self.next_log_id += len(time)
        return batch

    def _bot_session(self, rng: np.random.Generator, day_start: int, session: int) -> tuple[list, str]:
        """One crawler session as event columns (time, session, member, event, product, user agent) and its id."""
        n_events = int(rng.integers(200, 600))
        start = day_start + int(rng.integers(0, DAY_MS - 3_600_000))
        times = start + np.cumsum(rng.integers(60, 250, n_events))
        times = times[times < self.end_ms]
        n = len(times)
        is_page = rng.random(n) < 0.1
        products = self.catalog.product_ids[rng.integers(0, len(self.catalog.product_ids), n)]
        session_id = _uuids(rng, 1)[0]
        agent = len(self.user_agents) + int(rng.integers(0, len(BOT_USER_AGENTS)))
        columns = [
            times,
            np.full(n, session),
            np.full(n, -1),
            np.where(is_page, _PAGE, _VIEW),
            np.where(is_page, -1, products),
            np.full(n, agent),
        ]
        return columns, session_id

    def _orders(
        self,
        rng: np.random.Generator,
        batch: DayBatch,
        event_session: np.ndarray,
        event_name: np.ndarray,
        event_view: np.ndarray,
        event_time: np.ndarray,
        view_product: np.ndarray,
        session_member: np.ndarray,
        session_kind: np.ndarray,
        session_size: np.ndarray,
        session_channel: np.ndarray,
        n_sessions: int,
        ordering: np.ndarray,
    ) -> None:
        """Members who carted something check out sometimes; the order holds what they carted, in size."""
        catalog = self.catalog
        is_cart = event_name == _CART
        cart_sessions = event_session[is_cart]
        cart_products = view_product[event_view[is_cart]]
        last_event_time = np.zeros(n_sessions, dtype=np.int64)
        np.maximum.at(last_event_time, event_session, event_time)
        converts = rng.random(n_sessions) < _ORDER_IF_CART
        converts[ordering] = True
        checkout_delay = rng.integers(30_000, 300_000, n_sessions)
        status_draw = rng.random(n_sessions)
        quantity_draw = rng.random(len(cart_products))
        discount_draw = rng.random(len(cart_products))

        placed = []
        for session in np.unique(cart_sessions).tolist():
            if session_kind[session] == _ANONYMOUS or not converts[session]:
                continue
            ordered_ms = int(last_event_time[session] + checkout_delay[session])
            if ordered_ms >= self.end_ms:
                continue
            lines = np.flatnonzero(cart_sessions == session)
            placed.append((ordered_ms, session, lines))
        placed.sort(key=lambda item: item[0])

        for ordered_ms, session, lines in placed:
            order_id = self.next_order_id
            self.next_order_id += 1
            batch.orders.append(
                (
                    order_id,
                    int(self.members.member_ids[session_member[session]]),
                    seoul_naive(ordered_ms),
                    self._order_status(order_id, ordered_ms, float(status_draw[session])),
                    CHANNELS[session_channel[session]],
                )
            )
            seen: set[int] = set()
            for line in lines.tolist():
                product = int(cart_products[line])
                if product in seen:
                    continue
                seen.add(product)
                quantity = 1 if quantity_draw[line] < 0.9 else (2 if quantity_draw[line] < 0.99 else 3)
                price = int(catalog.price[product])
                unit_price = price if discount_draw[line] >= 0.2 else int(round(price * 0.9, -2))
                batch.order_items.append(
                    (
                        self.next_order_item_id,
                        order_id,
                        int(catalog.product_ids[product]),
                        self._option_for(product, int(session_size[session])),
                        quantity,
                        unit_price,
                    )
                )
                self.next_order_item_id += 1

    def _fitting_old_products(self, rng: np.random.Generator, sizes: np.ndarray) -> np.ndarray:
        """A product on sale before the window, offered in each given size when one is, for sure-to-order carts."""
        catalog = self.catalog
        buyable = catalog.cartable & (catalog.registered_ms < self.start_ms)
        if not buyable.any():
            buyable = catalog.cartable
        chosen = np.empty(len(sizes), dtype=np.int64)
        for number, size in enumerate(sizes.tolist()):
            candidates = np.flatnonzero(buyable & catalog.offers[:, size])
            if not len(candidates):
                candidates = np.flatnonzero(buyable)
            chosen[number] = candidates[rng.integers(0, len(candidates))]
        return chosen

    def _order_status(self, order_id: int, ordered_ms: int, draw: float) -> str:
        # The first two orders are always a cancellation and a refund, so even a tiny demo has both.
        if order_id == 1:
            return "cancelled"
        if order_id == 2:
            return "refunded"
        age_ms = self.end_ms - ordered_ms
        if draw < 0.07:
            return "cancelled"
        if draw < 0.12 and age_ms > 3 * DAY_MS:
            return "refunded"
        if age_ms < DAY_MS:
            return "paid"
        if age_ms < 3 * DAY_MS:
            return "shipped"
        return "delivered"

    def _option_for(self, product: int, size: int) -> int:
        """The option in the buyer's size, else the nearest size the product is cut in."""
        offers = self.catalog.offers[product]
        if not offers[size]:
            offered = np.flatnonzero(offers)
            cup, band = size // len(BAND_SIZES), size % len(BAND_SIZES)
            distance = np.abs(offered // len(BAND_SIZES) - cup) + np.abs(offered % len(BAND_SIZES) - band)
            size = int(offered[np.argmin(distance)])
        return int(self.catalog.option_ids[product, size])


def _uuids(rng: np.random.Generator, n: int) -> list[str]:
    """Version-4 UUID strings from the generator's stream (so they repeat with the seed)."""
    raw = rng.integers(0, 256, (n, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    return [str(uuid.UUID(bytes=row.tobytes())) for row in raw]


def generate(config: SeedConfig) -> Iterator[tuple[str, list[tuple]]]:
    """Yields ``(table name, rows)`` batches in load order (parents before children).

    Rows are tuples in the column order of :mod:`pulla_dev.demo_shop.tables`. Memory holds one day of
    activity at a time.
    """
    catalog = make_catalog(config)
    members = make_members(config)
    yield "members", members.rows
    yield "products", catalog.rows
    yield "product_options", catalog.option_rows
    for batch in ActivityGenerator(config, catalog, members).days():
        yield "orders", batch.orders
        yield "order_items", batch.order_items
        yield "web_logs", batch.web_logs
        del batch  # let the day's rows go before the next day is made
