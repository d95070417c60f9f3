"""Deterministic generator of realistic RudderStack event tables (`tracks`, `pages`, `screens`, and on
request the `identifies` and `aliases` link tables), for the demo, the tests and benchmarks.

The data has to exercise everything the session model must get right (see SPEC.md): people on several
devices, anonymous browsing that is identified later, devices that change hands, duplicate and late
deliveries, and the malformed rows the cleaning step counts. Every one of these occurs at every size from
1,000 events up, with exact (not merely expected) counts, so a small test table is never missing a case.

One activity feeds every table: the track events of people's sessions, a page call (`pages`, web devices)
before each track event on a page the device was not already on, a screen call (`screens`, app devices)
before each track event on a new screen. All rows carry a landing referrer and, on some sessions' landing
events, a campaign; `order_completed` track events carry a `revenue`. Ids are unique across the tables but
for the deliberate duplicates: copies within a table, and a few track events delivered again as pages.

Generation is set-wise: numpy (seeded `default_rng`) draws integers and timestamps, DuckDB turns them
into strings while writing. The same seed, size, window and start always give the same tables; the
tracks of `write_events` are those `write_tracks` writes for the same seed and tracks count.

    python include/sample_data.py --database demo.duckdb --schema demo --table tracks --events 100000
    python include/sample_data.py --database demo.duckdb --tables tracks,pages,screens --events 100000
    python include/sample_data.py --database demo.duckdb --tables tracks,pages,screens --identity-links

With `identity_links` (`--identity-links`) the generator also writes RudderStack's `identifies` and
`aliases` tables and gives the events what only an identity graph (SPEC.md "Identity graph") stitches:
renamed users (an alias row from the old user id to the new one, the later events with the new id), some
of them renamed twice; people identified server-side only, whose devices' events carry no user id and
are linked through identifies rows alone (with an earlier anonymous id only identifies has); kiosks, one
anonymous id that a different person logs into each session; and junk ids ('null', 'undefined',
'anonymous', '0' in several spellings, blanks) in events and link rows. These come from random streams of
their own: without the option every table is exactly what it was.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MIN_EVENTS = 100
CLI_MIN_EVENTS, CLI_MAX_EVENTS = 1_000, 50_000_000

US = 1_000_000  # microseconds per second
HOUR_US = 3600 * US
DAY_US = 24 * HOUR_US

# Rates, as fractions of all rows written; each case occurs at least once whatever the size.
DUPLICATE_RATE = 0.01  # events delivered more than once (same id)
EARLIER_COPY_SHARE = 0.15  # of the extra copies, received before the original
LATE_RATE = 0.02  # received hours to days after `timestamp`
BLANK_ID_RATE = 0.003  # '' / '  ' / '\t' in anonymous_id or user_id
BOTH_IDS_NULL_RATE = 0.0005
NULL_TIMESTAMP_RATE = 0.0002
NULL_ID_RATE = 0.0002
ANONYMOUS_PEOPLE_SHARE = 0.30  # people who never identify
SHARED_DEVICE_SHARE = 0.03  # used devices handed over to another identified person
FIRST_EVENT_IDENTIFY_SHARE = 0.30  # devices already logged in on their first event

MEAN_SESSION_EVENTS = 8
MEAN_SESSIONS_PER_PERSON = 5
MAX_INTRA_GAP_S = 25 * 60  # below the 30 minute timeout: a generated session stays one session

# Weighted event names; application_opened, screen_viewed and signed_up are placed explicitly.
EVENTS: tuple[tuple[str, float], ...] = (
    ("page_viewed", 30),
    ("product_viewed", 18),
    ("product_list_viewed", 8),
    ("search", 8),
    ("product_added", 7),
    ("cart_viewed", 5),
    ("promotion_clicked", 2),
    ("product_removed", 2),
    ("checkout_started", 3),
    ("payment_info_entered", 1.5),
    ("order_completed", 1.2),
    ("logged_in", 1.5),
    ("product_shared", 0.8),
    ("application_opened", 0),
    ("screen_viewed", 0),
    ("signed_up", 0),
)
EVENT_NAMES = [name for name, _ in EVENTS]
EV = {name: code for code, name in enumerate(EVENT_NAMES)}

PAGE_PATHS = [
    "/",
    "/category/shoes",
    "/category/bags",
    "/products/trail-runner-42",
    "/products/canvas-tote-7",
    "/search",
    "/cart",
    "/checkout",
    "/checkout/complete",
    "/account",
    "/signup",
    "/login",
]
# Events tied to one page; the others land on a random browsing page (the first five paths).
EVENT_PAGE = {
    "product_viewed": "/products/trail-runner-42",
    "search": "/search",
    "cart_viewed": "/cart",
    "checkout_started": "/checkout",
    "payment_info_entered": "/checkout",
    "order_completed": "/checkout/complete",
    "signed_up": "/signup",
    "logged_in": "/login",
}
BROWSING_PAGES = 5

# Platforms: (share of devices, library name, user agents).
PLATFORMS: tuple[tuple[float, str, tuple[str, ...]], ...] = (
    (
        0.55,
        "RudderLabs JavaScript SDK",
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/124.0.0.0 Safari/537.36",
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "Version/17.4 Safari/605.1.15",
            "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "Version/17.4 Mobile/15E148 Safari/604.1",
        ),
    ),
    (
        0.25,
        "rudder-ios-library",
        (
            "Shop/4.12.0 (com.example.shop; build:412; iOS 17.4.1) Alamofire/5.8.1",
            "Shop/4.11.2 (com.example.shop; build:407; iOS 16.7.5) Alamofire/5.8.1",
        ),
    ),
    (
        0.20,
        "com.rudderstack.android.sdk.core",
        (
            "Dalvik/2.1.0 (Linux; U; Android 14; Pixel 8 Build/UD1A.230803.041)",
            "Dalvik/2.1.0 (Linux; U; Android 13; SM-S911B Build/TP1A.220624.014)",
        ),
    ),
)
LIBRARIES = [library for _, library, _ in PLATFORMS]
USER_AGENTS = [agent for _, _, agents in PLATFORMS for agent in agents]

_MASK64 = (1 << 64) - 1

# The event tables `write_events` can write, and how many rows each adds per track event (measured over
# large tables; `write_events` sizes the activity so the tables together hold about the rows asked for).
EVENT_TABLES = ("tracks", "pages", "screens")
ROWS_PER_TRACK = {"tracks": 1.0, "pages": 0.47, "screens": 0.29}
CROSS_TABLE_RATE = 0.0005  # of pages rows: a track event's id delivered again as a page call

# Page names (the `name` of a page call), one per path of PAGE_PATHS.
PAGE_NAMES = [
    "Home",
    "Category",
    "Category",
    "Product",
    "Product",
    "Search",
    "Cart",
    "Checkout",
    "Order Complete",
    "Account",
    "Sign Up",
    "Login",
]
# Screens of the apps; a track event not tied to one stays on the screen it was on, or browses on to one
# of the first five.
SCREEN_NAMES = [
    "Home",
    "Categories",
    "Product List",
    "Product Detail",
    "Deals",
    "Search",
    "Cart",
    "Checkout",
    "Order Confirmation",
    "Account",
    "Sign Up",
    "Login",
]
EVENT_SCREEN = {
    "application_opened": "Home",
    "product_viewed": "Product Detail",
    "product_list_viewed": "Product List",
    "search": "Search",
    "cart_viewed": "Cart",
    "checkout_started": "Checkout",
    "payment_info_entered": "Checkout",
    "order_completed": "Order Confirmation",
    "signed_up": "Sign Up",
    "logged_in": "Login",
}
BROWSING_SCREENS = 5
STAY_ON_SCREEN_SHARE = 0.6

# How sessions arrive: (share of sessions, landing referrer, utm source, medium, campaign names). Apps get
# no referrer; their campaigns come with deep links.
CHANNELS: tuple[tuple[float, str | None, str | None, str | None, tuple[str, ...]], ...] = (
    (0.30, None, None, None, ()),  # direct
    (0.22, "https://www.google.com/", None, None, ()),  # organic search
    (0.04, "https://www.bing.com/", None, None, ()),
    (0.14, "https://www.google.com/", "google", "cpc", ("brand_search", "running_shoes", "spring_sale")),
    (0.10, "https://l.facebook.com/", "facebook", "paid_social", ("spring_sale", "cart_retargeting")),
    (0.05, "https://l.instagram.com/", "instagram", "social", ("creator_collab",)),
    (0.08, None, "newsletter", "email", ("weekly_digest", "spring_sale")),
    (0.07, "https://www.reddit.com/", None, None, ()),  # referral
)
SITE = "https://shop.example.com"
# Referrers: '' first, then the external ones, then the site's own pages (the page an event came from).
EXTERNAL_REFERRERS = list(dict.fromkeys(ref for _, ref, _, _, _ in CHANNELS if ref is not None))
REFERRERS = ["", *EXTERNAL_REFERRERS, *(SITE + path for path in PAGE_PATHS)]
CAMPAIGN_SOURCES = ["", *dict.fromkeys(src for _, _, src, _, _ in CHANNELS if src is not None)]
CAMPAIGN_MEDIUMS = ["", *dict.fromkeys(med for _, _, _, med, _ in CHANNELS if med is not None)]
CAMPAIGN_NAMES = ["", *dict.fromkeys(name for *_, names in CHANNELS for name in names)]
# After the landing: the page the visitor came from, NULL, or '' (shares of web events).
TRACK_INTERNAL_REFERRER_SHARE, TRACK_NULL_REFERRER_SHARE = 0.40, 0.45
PAGE_INTERNAL_REFERRER_SHARE, PAGE_NULL_REFERRER_SHARE = 0.60, 0.30
LANDING_BLANK_CAMPAIGN_SHARE = 0.10  # landing events without a campaign sending '' rather than NULL
BLANK_CAMPAIGN_SHARE = 0.03  # later events sending ''

DEVICE_TYPES = ["desktop", "mobile", "tablet"]
MOBILE_USER_AGENT = 3  # the web user agent of a phone (the others are desktops)
APP_TABLET_SHARE = 0.15
REVENUE_MEDIAN_CENTS, REVENUE_SIGMA = 6500, 0.7  # order_completed revenue: lognormal, 2 decimals

# Identity links (identity_links=True): the `identifies` and `aliases` tables, and what the identity graph
# must see through in the events. Shares of identified people, of devices or of rows; every case occurs at
# least once. Drawn from streams of their own: without the option every table stays what it was.
LINK_TABLES = ("identifies", "aliases")
SERVER_IDENTIFY_SHARE = 0.05  # people on 2+ devices identified server-side only: their user id never in events
KIOSK_SHARE = 0.003  # devices (3+ sessions) where every session is someone else's, identified at its start
RENAME_SHARE = 0.03  # identified people whose user id changes (an alias row); the later events carry the new id
RENAME_AGAIN_SHARE = 0.25  # of those, renamed twice: a chain of two aliases
SIGNUP_ALIAS_SHARE = 0.25  # sign-ups that also alias the device's anonymous id to the new user id
JUNK_ID_RATE = 0.002  # rows with a junk id ('null', 'undefined', ...): junk user ids on anonymous rows,
# junk anonymous ids on identified ones, a fifth of the former with both ids junk
JUNK_LINK_RATE = 0.01  # extra link rows with a junk or missing id
CLIENT_IDENTIFY_LEAD_S = (0.05, 1.0)  # an SDK's identify or alias call comes just before its track event
SERVER_IDENTIFY_DELAY_S = (0.2, 3.0)  # a backend identifies just after the login it handled
SERVER_LIBRARY = "@rudderstack/rudder-sdk-node"
LINK_LIBRARIES = [*LIBRARIES, SERVER_LIBRARY]
# Values of an id column that identify nobody, by code - 1 (code 0 is a real id): the blanks every table
# has, then junk that stripped and lower-cased is one of the identity graph's default exclusions.
JUNK_IDS = ("null", "undefined", "anonymous", "0", "NULL", " undefined ", "Null", "ANONYMOUS", "\tnull", "Undefined")
NOT_IDS = ("", "  ", "\t", *JUNK_IDS)
FIRST_JUNK_CODE = 4
LINK_ID_BASE = 1 << 62  # link rows' activity numbers (their ids), far above every event's


# The arrow columns below become the tables' columns here; strings are built by DuckDB, set-wise. A table's
# event name is `event` (tracks) or `name` (pages, screens); only tracks has `revenue`.
_SELECT = """
SELECT
    CAST(id AS VARCHAR) AS id,
    {anonymous_id} AS anonymous_id,
    {user_id} AS user_id,
    CAST({name} AS VARCHAR) AS {name},
    CAST(ts AS TIMESTAMP) AS "timestamp",
    CAST(received_at AS TIMESTAMP) AS received_at,
    CAST(sent_at AS TIMESTAMP) AS sent_at,
    CAST(library AS VARCHAR) AS context_library_name,
    concat_ws('.', ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255) AS context_ip,
    CAST(page_path AS VARCHAR) AS context_page_path,
    CAST(user_agent AS VARCHAR) AS context_user_agent,
    CAST(referrer AS VARCHAR) AS context_page_referrer,
    CAST(campaign_source AS VARCHAR) AS context_campaign_source,
    CAST(campaign_medium AS VARCHAR) AS context_campaign_medium,
    CAST(campaign_name AS VARCHAR) AS context_campaign_name,
    CAST(device_type AS VARCHAR) AS context_device_type{extra}
FROM {source}
"""
_TABLE_SQL = {
    "tracks": {"name": "event", "extra": ",\n    CAST(revenue AS DOUBLE) AS revenue"},
    "pages": {"name": "name", "extra": ""},
    "screens": {"name": "name", "extra": ""},
}


def _sql_string(value: str) -> str:
    """A SQL expression for `value`, its tabs spelled chr(9) (a literal tab would be easy to miss)."""
    return " || ".join("chr(9)" if part == "\t" else f"'{part}'" for part in re.split("(\t)", value) if part) or "''"


_NOT_IDS = "[" + ", ".join(_sql_string(value) for value in NOT_IDS) + "]"


def _id_sql(code: str, real: str) -> str:
    """An id column: `real` where `code` is 0, else the NOT_IDS value it numbers (from 1)."""
    return f"CASE {code} WHEN 0 THEN {real} ELSE {_NOT_IDS}[{code}] END"


_ANON_SQL = "'anon-' || format('{{:016x}}', {})"
_USER_SQL = "'user-' || CAST({} AS VARCHAR)"
_EVENT_IDS = {
    "anonymous_id": _id_sql("anon_blank", _ANON_SQL.format("anon")),
    "user_id": _id_sql("user_blank", _USER_SQL.format("user_n")),
}
# The link tables (identity_links=True), RudderStack's columns of identify and alias calls; FROM follows.
_LINK_SELECT = {
    "identifies": f"""
SELECT
    CAST(id AS VARCHAR) AS id,
    {_id_sql("anon_code", _ANON_SQL.format("anon"))} AS anonymous_id,
    {_id_sql("user_code", _USER_SQL.format("user_n"))} AS user_id,
    CAST(ts AS TIMESTAMP) AS "timestamp",
    CAST(received_at AS TIMESTAMP) AS received_at,
    CAST(sent_at AS TIMESTAMP) AS sent_at,
    CAST(library AS VARCHAR) AS context_library_name,
    'customer-' || CAST(person AS VARCHAR) || '@example.com' AS context_traits_email
""",
    "aliases": f"""
SELECT
    CAST(id AS VARCHAR) AS id,
    {_id_sql("prev_code", f"coalesce({_ANON_SQL.format('prev_anon')}, {_USER_SQL.format('prev_n')})")} AS previous_id,
    {_id_sql("user_code", _USER_SQL.format("user_n"))} AS user_id,
    CAST(ts AS TIMESTAMP) AS "timestamp",
    CAST(received_at AS TIMESTAMP) AS received_at,
    CAST(sent_at AS TIMESTAMP) AS sent_at,
    CAST(library AS VARCHAR) AS context_library_name
""",
}


def write_tracks(
    conn: duckdb.DuckDBPyConnection,
    *,
    schema: str = "rudderstack",
    table: str = "tracks",
    events: int = 100_000,
    seed: int = 42,
    days: int = 90,
    start: datetime = datetime(2026, 1, 1),
    identity_links: bool = False,
) -> int:
    """(Re)create `schema.table` with about `events` rows, duplicates and bad rows included; return the count.

    `start` is read as UTC (an aware datetime is converted); events fall in `[start, start + days)`.
    With `identity_links`, also (re)create `schema.identifies` and `schema.aliases` (LINK_TABLES) and give
    the events what the identity graph must handle (see `write_events`).
    """
    start_us = _check(schema, events, days, seed, start, table=table)
    if identity_links and table in LINK_TABLES:
        raise ValueError(f"table {table!r} is a link table's name: with identity_links, name the tracks otherwise")
    arrow_tables = _generate(events, seed, days * DAY_US, start_us, ("tracks",), links=identity_links)
    names = {"tracks": table, **{kind: kind for kind in LINK_TABLES}}
    for kind, rows in arrow_tables.items():
        _write(conn, schema, names[kind], kind, rows, f"{seed}_{events}")
    return arrow_tables["tracks"].num_rows


def write_events(
    conn: duckdb.DuckDBPyConnection,
    *,
    schema: str = "rudderstack",
    events: int = 100_000,
    seed: int = 42,
    days: int = 90,
    start: datetime = datetime(2026, 1, 1),
    tables: Iterable[str] = EVENT_TABLES,
    identity_links: bool = False,
) -> dict[str, int]:
    """(Re)create the event tables `tables` (of EVENT_TABLES, each under its own name) in `schema`, about
    `events` rows in all; return each table's row count.

    One activity feeds them all: its tracks are the table `write_tracks` writes for the same seed, days
    and start with as many rows as this `tracks` has (all of `events` when only tracks are asked for).

    `identity_links` also writes the link tables `identifies` (id, anonymous_id, user_id, timestamp,
    received_at, sent_at, context_library_name, context_traits_email) and `aliases` (id, previous_id,
    user_id, timestamp, received_at, sent_at, context_library_name), counted in the result, and changes
    the events so that only an identity graph stitches them: renamed users (an alias row, later events
    with the new id), people identified server-side only (their user id only in identifies, their devices
    linked through it), kiosks (one anonymous id, a different user each session) and junk ids ('null',
    'undefined', ...) in events and link rows. Without it the tables are exactly what they always were.
    """
    kinds = tuple(dict.fromkeys(tables))
    unknown = [kind for kind in kinds if kind not in EVENT_TABLES]
    if unknown or not kinds:
        raise ValueError(f"tables must be some of {', '.join(EVENT_TABLES)}, got {list(tables)!r}")
    per_track = sum(ROWS_PER_TRACK[kind] for kind in kinds)
    least = int(np.ceil(MIN_EVENTS * per_track))
    if events < least:
        raise ValueError(f"events must be at least {least} for the tables {', '.join(kinds)}, got {events}")
    tracks = round(events / per_track)
    start_us = _check(schema, tracks, days, seed, start)
    arrow_tables = _generate(tracks, seed, days * DAY_US, start_us, kinds, links=identity_links)
    for kind, rows in arrow_tables.items():
        _write(conn, schema, kind, kind, rows, f"{seed}_{events}")
    return {kind: rows.num_rows for kind, rows in arrow_tables.items()}


def _check(schema: str, events: int, days: int, seed: int, start: datetime, *, table: str = "tracks") -> int:
    """Validate the arguments; return `start` in microseconds since the epoch (UTC)."""
    for name, value in (("schema", schema), ("table", table)):
        if not isinstance(value, str) or not IDENTIFIER.fullmatch(value):
            raise ValueError(f"{name} {value!r} is not a valid identifier (letters, digits and _)")
    if events < MIN_EVENTS:
        raise ValueError(f"events must be at least {MIN_EVENTS}, got {events}")
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    if start.tzinfo is not None:
        start = start.astimezone(UTC).replace(tzinfo=None)
    return (start - datetime(1970, 1, 1)) // timedelta(microseconds=1)


def _write(conn: duckdb.DuckDBPyConnection, schema: str, table: str, kind: str, rows: pa.Table, tag: str) -> None:
    view = f"_sample_{kind}_{tag}"
    conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    conn.register(view, rows)
    try:
        if kind in LINK_TABLES:
            select = _LINK_SELECT[kind] + f"FROM {view}\n"
        else:
            select = _SELECT.format(source=view, **_TABLE_SQL[kind], **_EVENT_IDS)
        conn.execute(f'CREATE OR REPLACE TABLE "{schema}"."{table}" AS ' + select)
    finally:
        conn.unregister(view)


@dataclass
class _Activity:
    """The generated activity, one entry per (distinct) track event in session order, or per device."""

    n_ev: int
    keys: list[int]  # id and anonymous id mixing keys
    ts: np.ndarray  # µs; the true timestamp (NULLed in some track rows only)
    ev_pos: np.ndarray  # position in its session
    ev_dev: np.ndarray
    user: np.ndarray  # person number, -1: anonymous (before a track row's malformation)
    login: np.ndarray  # a signed_up / logged_in event: the one that identifies the device
    event: np.ndarray  # code into EVENT_NAMES
    page: np.ndarray  # code into PAGE_PATHS, -1 on app devices
    web: np.ndarray
    sent: np.ndarray
    received: np.ndarray
    referrer: np.ndarray  # codes into REFERRERS, CAMPAIGN_*, -1: NULL
    campaign_source: np.ndarray
    campaign_medium: np.ndarray
    campaign_name: np.ndarray
    clean: np.ndarray  # delivered exactly once to tracks, and well-formed there
    dev_anon: np.ndarray
    dev_ip: np.ndarray
    dev_agent: np.ndarray
    dev_platform: np.ndarray
    dev_type: np.ndarray  # code into DEVICE_TYPES


def _generate(
    total: int, seed: int, window_us: int, start_us: int, kinds: tuple[str, ...], *, links: bool = False
) -> dict[str, pa.Table]:
    """Draw the activity and the tables `kinds` of it: arrow columns of integers, codes and timestamps, each
    table ordered by `received_at`. `total` is the number of tracks rows."""
    rng = np.random.default_rng(seed)
    keys = [int(k) for k in rng.integers(0, 2**63, size=4, dtype=np.int64)]

    # Extra copies of duplicated events count towards `total`: the base events make up the rest.
    n_dup_src = max(1, round(DUPLICATE_RATE * total))
    copies = 1 + _exact_flags(rng, n_dup_src, 0.15) + _exact_flags(rng, n_dup_src, 0.03)
    n_base = total - int(copies.sum())

    # Sessions: geometric lengths (mean 8), cut to exactly n_base events.
    lengths = rng.geometric(1 / MEAN_SESSION_EVENTS, size=n_base // MEAN_SESSION_EVENTS * 2 + 16)
    ends = np.cumsum(lengths)
    n_sess = int(np.searchsorted(ends, n_base)) + 1
    lengths = lengths[:n_sess].astype(np.int64)
    lengths[-1] -= int(ends[n_sess - 1]) - n_base

    # People: at least one session each, the rest spread by skewed (lognormal) activity.
    n_people = min(n_sess, max(4, round(n_sess / MEAN_SESSIONS_PER_PERSON)))
    activity = rng.lognormal(0.0, 1.3, size=n_people)
    per_person = 1 + rng.multinomial(n_sess - n_people, activity / activity.sum())
    sess_person = np.repeat(np.arange(n_people, dtype=np.int64), per_person)
    n_identified = min(n_people - 1, max(2, round((1 - ANONYMOUS_PEOPLE_SHARE) * n_people)))
    identified = np.zeros(n_people, dtype=bool)
    identified[rng.choice(n_people, size=n_identified, replace=False)] = True

    # Devices: 1-3 per person, the first one used most; every session happens on one of them.
    n_devices = rng.choice(3, size=n_people, p=[0.45, 0.35, 0.20]) + 1
    dev_offset = np.cumsum(n_devices) - n_devices
    device_split = np.array([[1.0, 1.0, 1.0], [0.65, 1.0, 1.0], [0.5, 0.8, 1.0]])
    u = rng.random(n_sess)
    dev_local = (u[:, None] >= device_split[n_devices[sess_person] - 1]).sum(axis=1)
    sess_dev = dev_offset[sess_person] + dev_local
    n_dev_total = int(n_devices.sum())

    # Events inside sessions: seconds to minutes apart (lognormal, median 35 s).
    n_ev = n_base
    ev_session = np.repeat(np.arange(n_sess, dtype=np.int64), lengths)
    sess_first_ev = np.cumsum(lengths) - lengths
    ev_pos = np.arange(n_ev, dtype=np.int64) - sess_first_ev[ev_session]
    gap_s = np.clip(rng.lognormal(np.log(35.0), 1.1, size=n_ev), 1.0, MAX_INTRA_GAP_S)
    gap_s[ev_pos == 0] = 0.0
    # A heavy user whose sessions alone would not fit half the window gets faster sessions (tiny windows).
    person_busy = np.bincount(sess_person[ev_session], weights=gap_s, minlength=n_people) * US
    squeeze = np.minimum(1.0, 0.5 * window_us / np.maximum(person_busy, 1.0))
    gap_us = np.rint(gap_s * US * squeeze[sess_person][ev_session]).astype(np.int64)
    del gap_s
    ev_offset = _group_cumsum(gap_us, lengths, exclusive=False)
    sess_dur = np.add.reduceat(gap_us, sess_first_ev)
    del gap_us

    # Sessions of a person: idle time of hours to days between them (bursty gamma shares of the free time,
    # at least 45 minutes when the window allows), the whole history inside the window.
    person_dur = np.bincount(sess_person, weights=sess_dur, minlength=n_people)
    free = window_us - person_dur - 1.0
    min_gap = np.minimum(0.75 * HOUR_US, free / (4.0 * (per_person + 1)))
    # Bursty (gamma 0.6) between sessions; the idle before a person's first session and after the last
    # are gamma 1, so a person's activity is not pulled towards the window's edges (with 0.6 the first
    # and last days would each carry about 2.5 times a middle day's events).
    shares = rng.gamma(0.6, size=n_sess)
    first_sessions = (np.cumsum(per_person) - per_person)[per_person > 0]
    shares[first_sessions] = rng.gamma(1.0, size=len(first_sessions))
    share_total = np.bincount(sess_person, weights=shares, minlength=n_people) + rng.gamma(1.0, size=n_people)
    spread = (free - (per_person + 1) * min_gap) / share_total
    idle = (min_gap[sess_person] + spread[sess_person] * shares).astype(np.int64)
    sess_start = start_us + _group_cumsum(idle + sess_dur, per_person, exclusive=True) + idle
    del shares, idle, sess_dur
    ts = sess_start[ev_session] + ev_offset
    del ev_offset

    # Per-device event rank in time order (a device's sessions are one person's, already in time order).
    by_dev = np.argsort(sess_dev, kind="stable")
    dev_sess_count = np.bincount(sess_dev, minlength=n_dev_total)
    dev_events = np.bincount(sess_dev, weights=lengths, minlength=n_dev_total).astype(np.int64)
    rank_offset = np.empty(n_sess, dtype=np.int64)
    rank_offset[by_dev] = _group_cumsum(lengths[by_dev], dev_sess_count[dev_sess_count > 0], exclusive=True)
    dev_first_sorted = np.cumsum(dev_sess_count) - dev_sess_count
    dev_owner = np.repeat(np.arange(n_people, dtype=np.int64), n_devices)

    # Shared devices: from one of its sessions on, an identified person's device is used by another one.
    candidates = np.flatnonzero((dev_sess_count >= 2) & identified[dev_owner])
    n_shared = min(len(candidates), max(1, round(SHARED_DEVICE_SHARE * np.count_nonzero(dev_sess_count))))
    if n_identified < 2:  # nobody to hand over to (only in tables far below 1,000 events)
        n_shared = 0
    shared = np.sort(rng.choice(candidates, size=n_shared, replace=False))
    handover_sess = 1 + (rng.random(n_shared) * (dev_sess_count[shared] - 1)).astype(np.int64)
    handover = dev_events.copy()  # event rank where the first user's part ends
    handover[shared] = rank_offset[by_dev[dev_first_sorted[shared] + handover_sess]]
    ident_people = np.flatnonzero(identified)
    pick = rng.integers(0, max(1, n_identified - 1), size=n_shared)
    pick += pick >= np.searchsorted(ident_people, dev_owner[shared])  # anyone identified but the owner
    new_owner = np.full(n_dev_total, -1, dtype=np.int64)
    new_owner[shared] = ident_people[pick]

    # Identify ranks: the owner identifies inside its part, the new user inside the rest.
    identify_rank = np.where(
        rng.random(n_dev_total) < FIRST_EVENT_IDENTIFY_SHARE,
        0,
        (rng.random(n_dev_total) * handover).astype(np.int64),
    )
    second_rank = np.full(n_dev_total, np.iinfo(np.int64).max)
    tail = dev_events[shared] - handover[shared]
    second_rank[shared] = handover[shared] + np.where(
        rng.random(n_shared) < FIRST_EVENT_IDENTIFY_SHARE, 0, (rng.random(n_shared) * tail).astype(np.int64)
    )

    ev_dev = sess_dev[ev_session]
    ev_rank = rank_offset[ev_session] + ev_pos
    ev_owner = dev_owner[ev_dev]
    first_part = ev_rank < handover[ev_dev]
    owner_ident = identified[ev_owner] & first_part
    user = np.where(owner_ident & (ev_rank >= identify_rank[ev_dev]), ev_owner, -1)
    second_part = ev_rank >= second_rank[ev_dev]
    user = np.where(second_part, new_owner[ev_dev], user)
    first_login = owner_ident & (ev_rank == identify_rank[ev_dev])
    second_login = ev_rank == second_rank[ev_dev]
    del ev_rank, first_part, second_part, rank_offset

    # Device attributes: platform, library, user agent, an IP address and the anonymous id.
    platform = rng.choice(len(PLATFORMS), size=n_dev_total, p=[share for share, _, _ in PLATFORMS])
    agent_count = np.array([len(agents) for _, _, agents in PLATFORMS])
    agent_base = np.cumsum(agent_count) - agent_count
    dev_agent = agent_base[platform] + (rng.random(n_dev_total) * agent_count[platform]).astype(np.int64)
    first_octet = rng.integers(11, 223, size=n_dev_total)
    first_octet += first_octet >= 127
    dev_ip = (first_octet.astype(np.uint32) << 24) | rng.integers(0, 2**24, size=n_dev_total, dtype=np.uint32)
    dev_anon = _mix64(np.arange(n_dev_total, dtype=np.uint64), keys[0])

    # Event names: weighted, sessions opening with a page view / app open, logins at identify points.
    weights = np.array([weight for _, weight in EVENTS if weight > 0])
    drawn = np.searchsorted(np.cumsum(weights) / weights.sum(), rng.random(n_ev), side="right")
    event = np.minimum(drawn, len(weights) - 1).astype(np.int8)  # weighted events come first in EVENTS
    del drawn
    web = platform[ev_dev] == 0
    event[ev_pos == 0] = np.where(web[ev_pos == 0], EV["page_viewed"], EV["application_opened"])
    event[~web & (event == EV["page_viewed"])] = EV["screen_viewed"]
    event[first_login] = np.where(dev_local[ev_session[first_login]] == 0, EV["signed_up"], EV["logged_in"])
    event[second_login] = EV["logged_in"]
    login = first_login | second_login
    del first_login, second_login
    event_page = np.full(len(EVENT_NAMES), -1, dtype=np.int8)
    for name, path in EVENT_PAGE.items():
        event_page[EV[name]] = PAGE_PATHS.index(path)
    page = event_page[event]
    browsing = page < 0
    page[browsing] = rng.integers(0, BROWSING_PAGES, size=int(browsing.sum()), dtype=np.int8)
    page[~web] = -1
    del browsing

    # Delivery: sent after an SDK flush delay, received after network latency; some devices were offline.
    flush = np.clip(rng.lognormal(0.0, 0.9, size=n_ev), 0.05, 30.0) * US
    late = rng.choice(n_ev, size=max(1, round(LATE_RATE * total)), replace=False)
    flush[late] = np.exp(rng.uniform(np.log(HOUR_US), np.log(4 * DAY_US), size=len(late)))
    sent = ts + flush.astype(np.int64)
    received = sent + rng.integers(20_000, 400_000, size=n_ev)
    del flush, late

    # Identity links: the events' people changed (from a stream of their own) and the link tables.
    link_tables: dict[str, pa.Table] = {}
    if links:
        lrng = np.random.default_rng([seed, 4])
        link_rows = _identity_links(
            lrng,
            keys,
            user,
            ts,
            login=login,
            event=event,
            ev_pos=ev_pos,
            ev_session=ev_session,
            ev_dev=ev_dev,
            sess_first_ev=sess_first_ev,
            sess_dev=sess_dev,
            dev_owner=dev_owner,
            new_owner=new_owner,
            dev_sess_count=dev_sess_count,
            dev_events=dev_events,
            identified=identified,
            platform=platform,
            dev_anon=dev_anon,
            window=(start_us, start_us + window_us),
        )
        for number, (kind, rows) in enumerate(link_rows.items()):
            link_tables[kind] = _link_table(rows, lrng, keys, LINK_ID_BASE + (number << 56))
        del link_rows
    true_user = user.copy() if kinds != ("tracks",) else user  # a page or screen call's, whatever its track row

    # Malformed rows and duplicated deliveries, on distinct events with exact counts.
    counts = [
        n_dup_src,
        max(1, round(BLANK_ID_RATE * total)),
        max(1, round(BOTH_IDS_NULL_RATE * total)),
        max(1, round(NULL_TIMESTAMP_RATE * total)),
        max(1, round(NULL_ID_RATE * total)),
    ]
    dup_src, blank, both_null, null_ts, null_id = np.split(
        rng.choice(n_ev, size=sum(counts), replace=False), np.cumsum(counts)[:-1]
    )
    anon_blank = np.zeros(n_ev, dtype=np.int8)
    user_blank = np.zeros(n_ev, dtype=np.int8)
    blank_kind = np.arange(len(blank)) % 3 + 1  # '', '  ', '\t' in turn
    on_anon = np.arange(len(blank)) % 2 == 0
    anon_blank[blank[on_anon]] = blank_kind[on_anon]
    user_blank[blank[~on_anon]] = blank_kind[~on_anon]
    anon_null = np.zeros(n_ev, dtype=bool)
    anon_null[both_null] = True
    user[both_null] = -1
    ts_null = np.zeros(n_ev, dtype=bool)
    ts_null[null_ts] = True
    id_null = np.zeros(n_ev, dtype=bool)
    id_null[null_id] = True

    copy_src = np.repeat(dup_src, copies)
    copy_received = received[copy_src] + np.exp(
        rng.uniform(np.log(0.5 * US), np.log(6.0 * HOUR_US), size=len(copy_src))
    ).astype(np.int64)
    earlier = rng.choice(len(copy_src), size=max(1, round(EARLIER_COPY_SHARE * len(copy_src))), replace=False)
    src = copy_src[earlier]
    copy_received[earlier] = ts[src] + ((received[src] - ts[src]) * rng.uniform(0.05, 0.95, size=len(earlier))).astype(
        np.int64
    )
    clean = np.ones(n_ev, dtype=bool)
    clean[np.concatenate([dup_src, blank, both_null, null_ts, null_id])] = False
    if links:  # junk ids on a few well-formed events (no longer clean: the cleaning step sees them)
        junk = np.random.default_rng([seed, 5])
        clean[_add_junk_ids(junk, max(2, round(JUNK_ID_RATE * total / 2)), user, clean, anon_blank, user_blank)] = False

    # Context (from a stream of its own, so the columns above stay what they were): referrers, campaigns,
    # device types and revenue.
    ctx = np.random.default_rng([seed, 1])
    context = _context(ctx, n_sess, ev_session, ev_pos, web, page, event, platform, dev_agent)
    act = _Activity(
        n_ev=n_ev,
        keys=keys,
        ts=ts,
        ev_pos=ev_pos,
        ev_dev=ev_dev,
        user=true_user,
        login=login,
        event=event,
        page=page,
        web=web,
        sent=sent,
        received=received,
        referrer=context["referrer"],
        campaign_source=context["campaign_source"],
        campaign_medium=context["campaign_medium"],
        campaign_name=context["campaign_name"],
        clean=clean,
        dev_anon=dev_anon,
        dev_ip=dev_ip,
        dev_agent=dev_agent,
        dev_platform=platform,
        dev_type=context["device_type"],
    )
    del ev_session, login, clean, true_user

    tables: dict[str, pa.Table] = {}
    if "tracks" in kinds:
        # Rows in arrival order (ties by row number), each one a base event or a copy of one.
        all_received = np.concatenate([received, copy_received])
        order = np.argsort(all_received, kind="stable")
        row_src = np.concatenate([np.arange(n_ev, dtype=np.int64), copy_src])[order]
        row_received = all_received[order]
        del all_received, order, copy_received
        row_sent = np.minimum(sent[row_src], row_received)
        row_dev = ev_dev[row_src]
        row_user = user[row_src]
        revenue = context["revenue"][row_src]
        tables["tracks"] = pa.table(
            {
                "id": _uuids(row_src, id_null[row_src], keys),
                "anon": pa.array(dev_anon[row_dev], mask=anon_null[row_src]),
                "anon_blank": anon_blank[row_src],
                "user_n": pa.array(row_user + 1, mask=row_user < 0),
                "user_blank": user_blank[row_src],
                "event": _dictionary(event[row_src], EVENT_NAMES),
                "ts": pa.array(ts[row_src].view("datetime64[us]"), mask=ts_null[row_src]),
                "received_at": pa.array(row_received.view("datetime64[us]")),
                "sent_at": pa.array(row_sent.view("datetime64[us]")),
                "library": _dictionary(platform[row_dev].astype(np.int8), LIBRARIES),
                "ip": dev_ip[row_dev],
                "page_path": _dictionary(page[row_src], PAGE_PATHS),
                "user_agent": _dictionary(dev_agent[row_dev].astype(np.int8), USER_AGENTS),
                **_context_columns(act, row_src, row_dev),
                "revenue": pa.array(revenue, mask=np.isnan(revenue)),
            }
        )
        del row_src, row_received, row_sent, row_dev, row_user, revenue
    del user, anon_blank, user_blank, anon_null, ts_null, id_null, context

    # Page and screen calls: their ids follow the track events' (pages first, then screens).
    if "pages" not in kinds and "screens" not in kinds:
        return {**tables, **link_tables}
    page_calls = _call_events(act, act.page)
    if "pages" in kinds:
        junk = np.random.default_rng([seed, 6]) if links else None
        tables["pages"] = _calls(
            act, np.random.default_rng([seed, 2]), page_calls, act.page, act.n_ev, pages=True, junk=junk
        )
    if "screens" in kinds:
        screens = np.random.default_rng([seed, 3])
        screen = _screens(act, screens)
        junk = np.random.default_rng([seed, 7]) if links else None
        tables["screens"] = _calls(
            act, screens, _call_events(act, screen), screen, act.n_ev + len(page_calls), pages=False, junk=junk
        )
    return {**tables, **link_tables}


def _identity_links(
    rng: np.random.Generator,
    keys: list[int],
    user: np.ndarray,
    ts: np.ndarray,
    *,
    login: np.ndarray,
    event: np.ndarray,
    ev_pos: np.ndarray,
    ev_session: np.ndarray,
    ev_dev: np.ndarray,
    sess_first_ev: np.ndarray,
    sess_dev: np.ndarray,
    dev_owner: np.ndarray,
    new_owner: np.ndarray,
    dev_sess_count: np.ndarray,
    dev_events: np.ndarray,
    identified: np.ndarray,
    platform: np.ndarray,
    dev_anon: np.ndarray,
    window: tuple[int, int],
) -> dict[str, dict[str, np.ndarray]]:
    """Change the events' people (`user`, in place) into what only an identity graph stitches, and draw the
    identifies and aliases rows that link them (their columns, see `_link_table`).

    Kiosks: a few devices where each session is another identified person's, logged in from its start.
    Renames: a person's user id changes at one of their identified events (an alias row just before it),
    some twice; user values from `n_people` on are the new ids. Server-side identification: a few people
    on 2+ devices whose events carry no user id at all, linked by the identifies rows of their logins
    (and of an earlier anonymous id never seen in events). Every login is an identify call; some sign-ups
    alias the anonymous id too; a few link rows carry junk or missing ids.
    """
    n_people, n_dev = len(identified), len(dev_owner)
    n_identified = int(np.count_nonzero(identified))

    # Identified server-side only: people with 2+ devices in use, none of them handed over.
    in_use = np.bincount(dev_owner, weights=dev_events > 0, minlength=n_people)
    handed_over = np.bincount(dev_owner, weights=new_owner >= 0, minlength=n_people)
    candidates = np.flatnonzero(identified & (in_use >= 2) & (handed_over == 0))
    n_server = min(len(candidates), max(1, round(SERVER_IDENTIFY_SHARE * n_identified)))
    server = np.zeros(n_people, dtype=bool)
    server[rng.choice(candidates, size=n_server, replace=False)] = True

    # Kiosks: each session a different person's (the identified ones in turn, from a random one on).
    candidates = np.flatnonzero((dev_sess_count >= 3) & (new_owner < 0) & ~server[dev_owner])
    pool = np.flatnonzero(identified & ~server)
    n_kiosk = min(len(candidates), max(1, round(KIOSK_SHARE * np.count_nonzero(dev_sess_count)))) if len(pool) else 0
    kiosk = np.zeros(n_dev, dtype=bool)
    kiosk[rng.choice(candidates, size=n_kiosk, replace=False)] = True
    kiosk_sess = np.flatnonzero(kiosk[sess_dev])
    kiosk_sess = kiosk_sess[np.argsort(sess_dev[kiosk_sess], kind="stable")]  # by device, then in time order
    per_kiosk = dev_sess_count[kiosk]
    turn = np.arange(len(kiosk_sess)) - np.repeat(np.cumsum(per_kiosk) - per_kiosk, per_kiosk)
    turn += np.repeat(rng.integers(0, max(1, len(pool)), size=n_kiosk), per_kiosk)
    sess_user = np.full(len(sess_dev), -1, dtype=np.int64)
    sess_user[kiosk_sess] = pool[turn % max(1, len(pool))]
    on_kiosk = kiosk[ev_dev]
    user[on_kiosk] = sess_user[ev_session[on_kiosk]]
    del sess_user

    # Renames, at a person's k-th identified event (k >= 1: the old id is on earlier events).
    events_of = np.bincount(user[user >= 0], minlength=n_people)
    candidates = np.flatnonzero(identified & ~server & (events_of >= 2))
    n_renamed = min(len(candidates), max(1, round(RENAME_SHARE * n_identified)))
    many = candidates[events_of[candidates] >= 3]
    chained = rng.choice(many, size=min(1, n_renamed, len(many)), replace=False)
    if len(chained) < n_renamed:  # one who can be renamed twice (when anyone can), then any of them
        others = np.setdiff1d(candidates, chained, assume_unique=True)
        chained = np.concatenate([chained, rng.choice(others, size=n_renamed - len(chained), replace=False)])
    renamed = np.sort(chained)
    count = events_of[renamed]
    again_candidates = np.flatnonzero(count >= 3)
    twice = np.zeros(n_renamed, dtype=bool)
    n_twice = min(len(again_candidates), max(1, round(RENAME_AGAIN_SHARE * n_renamed)))
    twice[rng.choice(again_candidates, size=n_twice, replace=False)] = True
    is_renamed = np.zeros(n_people + 1, dtype=bool)  # by user + 1
    is_renamed[renamed + 1] = True
    their = np.flatnonzero(is_renamed[user + 1])
    their = their[np.lexsort((ts[their], user[their]))]  # each renamed person's events in time order
    first = np.cumsum(count) - count
    k1 = 1 + (rng.random(n_renamed) * (count - 1 - twice)).astype(np.int64)
    k2 = np.where(twice, k1 + 1 + (rng.random(n_renamed) * (count - 1 - k1)).astype(np.int64), count)
    new1 = n_people + np.arange(n_renamed, dtype=np.int64)
    new2 = n_people + n_renamed + np.cumsum(twice) - 1
    owner = np.repeat(np.arange(n_renamed), count)
    pos = np.arange(len(their)) - first[owner]
    user[their] = np.where(pos >= k2[owner], new2[owner], np.where(pos >= k1[owner], new1[owner], user[their]))
    at = np.concatenate([their[first + k1], their[first[twice] + k2[twice]]])  # the first event with the new id
    before = np.concatenate([their[first + k1 - 1], their[first[twice] + k2[twice] - 1]])
    del their, owner, pos, is_renamed
    person_of = np.concatenate([np.arange(n_people), renamed, renamed[twice]])  # of every user value

    def lead(n: int, span_s: tuple[float, float]) -> np.ndarray:
        return (rng.uniform(*span_s, size=n) * US).astype(np.int64)

    identifies: list[dict[str, np.ndarray]] = []
    aliases: list[dict[str, np.ndarray]] = []

    # An identify call at each login (after its track event when a backend makes it), and at the start of
    # each kiosk session; a server-identified person's first login also links an earlier anonymous id.
    logins = np.flatnonzero(login & ~on_kiosk)
    login_user = user[logins]
    by_server = server[person_of[login_user]]
    identifies.append(
        _link_rows(
            anon=dev_anon[ev_dev[logins]],
            user=login_user,
            ts=np.where(
                by_server,
                ts[logins] + lead(len(logins), SERVER_IDENTIFY_DELAY_S),
                ts[logins] - lead(len(logins), CLIENT_IDENTIFY_LEAD_S),
            ),
            library=np.where(by_server, len(LIBRARIES), platform[ev_dev[logins]]),
        )
    )
    opening = sess_first_ev[kiosk_sess]
    identifies.append(
        _link_rows(
            anon=dev_anon[ev_dev[opening]],
            user=user[opening],
            ts=ts[opening] - lead(len(opening), CLIENT_IDENTIFY_LEAD_S),
            library=platform[ev_dev[opening]],
        )
    )
    _, first_login = np.unique(login_user[by_server], return_index=True)
    first_login = logins[by_server][first_login]
    identifies.append(
        _link_rows(
            anon=_mix64(n_dev + np.arange(len(first_login), dtype=np.uint64), keys[0]),  # no device has it
            user=user[first_login],
            ts=ts[first_login] + lead(len(first_login), SERVER_IDENTIFY_DELAY_S),
            library=np.full(len(first_login), len(LIBRARIES)),
        )
    )
    sign_ups = logins[(event[logins] == EV["signed_up"]) & ~by_server]
    sign_ups = sign_ups[rng.random(len(sign_ups)) < SIGNUP_ALIAS_SHARE]
    aliases.append(
        _link_rows(
            prev_anon=dev_anon[ev_dev[sign_ups]],
            user=user[sign_ups],
            ts=ts[sign_ups] - lead(len(sign_ups), CLIENT_IDENTIFY_LEAD_S),
            library=platform[ev_dev[sign_ups]],
        )
    )
    # An alias comes before the page or screen call that precedes its event (up to 3 s before the first
    # event of a session, 80% of the gap before a later one), after the last event with the old id.
    calls_lead = np.where(ev_pos[at] == 0, 3 * US, (ts[at] - ts[np.maximum(at - 1, 0)]) * 4 // 5)
    room = ts[at] - ts[before] - calls_lead
    alias_lead = calls_lead + np.minimum(lead(len(at), CLIENT_IDENTIFY_LEAD_S), room // 2)
    aliases.append(
        _link_rows(
            prev_user=np.concatenate([renamed, new1[twice]]),
            user=user[at],
            ts=ts[at] - np.maximum(np.minimum(alias_lead, ts[at] - ts[before] - 1), 0),
            library=platform[ev_dev[at]],
        )
    )
    del login_user, by_server

    # Junk: identifies with a junk user id, a junk or missing anonymous id, or both junk; aliases from a
    # junk previous id or to a junk user id. At events of the people concerned, by their clients.
    with_user = np.flatnonzero(user >= 0)
    if len(with_user) == 0:  # nobody identified (only in tables far below 1,000 events)
        with_user = np.arange(len(user))
    n_links = sum(len(part["ts"]) for part in identifies)
    n_junk = max(4, round(JUNK_LINK_RATE * n_links)) // 4 * 4
    at = np.concatenate(
        [rng.integers(0, len(user), size=n_junk // 4), with_user[rng.integers(0, len(with_user), size=n_junk * 3 // 4)]]
    )
    kind = np.arange(n_junk) * 4 // n_junk  # 0: junk user id, 1: junk anonymous id, 2: none, 3: both junk
    code = 1 + (FIRST_JUNK_CODE - 1 + np.arange(n_junk)) % len(NOT_IDS)  # the junk first, then the blanks
    identifies.append(
        _link_rows(
            anon=dev_anon[ev_dev[at]],
            anon_code=np.where(kind == 1, code, np.where(kind == 3, code[::-1], 0)),
            anon_null=kind == 2,
            user=np.where(kind == 0, -1, user[at]),
            user_code=np.where((kind == 0) | (kind == 3), code, 0),
            ts=ts[at] + lead(n_junk, SERVER_IDENTIFY_DELAY_S),
            library=platform[ev_dev[at]],
        )
    )
    n_alias_links = sum(len(part["ts"]) for part in aliases)
    n_junk = max(2, round(JUNK_LINK_RATE * n_alias_links)) // 2 * 2
    at = with_user[rng.integers(0, len(with_user), size=n_junk)]
    kind = np.arange(n_junk) % 2  # 0: from a junk previous id, 1: to a junk user id
    code = 1 + (FIRST_JUNK_CODE - 1 + np.arange(n_junk)) % len(NOT_IDS)
    aliases.append(
        _link_rows(
            prev_user=user[at],
            prev_code=np.where(kind == 0, code, 0),
            user=np.where(kind == 1, -1, user[at]),
            user_code=np.where(kind == 1, code, 0),
            ts=ts[at] - lead(n_junk, CLIENT_IDENTIFY_LEAD_S),
            library=platform[ev_dev[at]],
        )
    )

    # The server-identified people's events carry no user id.
    server_value = server[person_of]
    user[server_value[user] & (user >= 0)] = -1
    return {
        "identifies": _concat_rows(identifies, person_of, window),
        "aliases": _concat_rows(aliases, person_of, window),
    }


def _link_rows(
    *,
    user: np.ndarray,
    ts: np.ndarray,
    library: np.ndarray,
    anon: np.ndarray | None = None,
    anon_code: np.ndarray | None = None,
    anon_null: np.ndarray | None = None,
    prev_anon: np.ndarray | None = None,
    prev_user: np.ndarray | None = None,
    prev_code: np.ndarray | None = None,
    user_code: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Link rows as arrays of one length: ids (anonymous keys, user values -1: none) with their codes into
    NOT_IDS (0: the id itself), timestamps and library codes; the arguments left out are none or 0."""
    n = len(ts)

    def given(values: np.ndarray | None, default: int, dtype: type) -> np.ndarray:
        return np.full(n, default, dtype=dtype) if values is None else np.asarray(values).astype(dtype)

    return {
        "anon": given(anon, 0, np.uint64),
        "anon_null": given(anon_null, anon is None, bool),
        "anon_code": given(anon_code, 0, np.int8),
        "prev_anon": given(prev_anon, 0, np.uint64),
        "prev_anon_null": np.full(n, prev_anon is None),
        "prev_user": given(prev_user, -1, np.int64),
        "prev_code": given(prev_code, 0, np.int8),
        "user": given(user, -1, np.int64),
        "user_code": given(user_code, 0, np.int8),
        "ts": given(ts, 0, np.int64),
        "library": given(library, 0, np.int8),
    }


def _concat_rows(
    parts: list[dict[str, np.ndarray]], person_of: np.ndarray, window: tuple[int, int]
) -> dict[str, np.ndarray]:
    """The link rows of `parts` together, their timestamps kept inside the window, and each real user
    value's person (its email)."""
    rows = {column: np.concatenate([part[column] for part in parts]) for column in parts[0]}
    rows["ts"] = np.clip(rows["ts"], window[0], window[1] - 1)
    rows["person"] = np.where((rows["user"] >= 0) & (rows["user_code"] == 0), person_of[rows["user"]], -1)
    return rows


def _link_table(rows: dict[str, np.ndarray], rng: np.random.Generator, keys: list[int], id_base: int) -> pa.Table:
    """An identifies or aliases table of `rows` (`_concat_rows`): ids numbered from `id_base` (apart from
    every event's), sent after an SDK flush and received soon after, ordered by `received_at`."""
    n = len(rows["ts"])
    sent = rows["ts"] + (np.clip(rng.lognormal(0.0, 0.9, size=n), 0.05, 30.0) * US).astype(np.int64)
    received = sent + rng.integers(20_000, 400_000, size=n)
    order = np.argsort(received, kind="stable")
    rows = {column: values[order] for column, values in rows.items()}
    user, prev_user, person = rows["user"], rows["prev_user"], rows["person"]
    return pa.table(
        {
            "id": _uuids(id_base + order.astype(np.int64), None, keys),
            "anon": pa.array(rows["anon"], mask=rows["anon_null"]),
            "anon_code": rows["anon_code"],
            "prev_anon": pa.array(rows["prev_anon"], mask=rows["prev_anon_null"]),
            "prev_n": pa.array(prev_user + 1, mask=prev_user < 0),
            "prev_code": rows["prev_code"],
            "user_n": pa.array(user + 1, mask=user < 0),
            "user_code": rows["user_code"],
            "person": pa.array(person + 1, mask=person < 0),
            "ts": pa.array(rows["ts"].view("datetime64[us]")),
            "received_at": pa.array(received[order].view("datetime64[us]")),
            "sent_at": pa.array(sent[order].view("datetime64[us]")),
            "library": _dictionary(rows["library"], LINK_LIBRARIES),
        }
    )


def _add_junk_ids(
    rng: np.random.Generator,
    n: int,
    user: np.ndarray,
    eligible: np.ndarray,
    anon_code: np.ndarray,
    user_code: np.ndarray,
) -> np.ndarray:
    """Give `n` eligible anonymous rows a junk user id (a fifth of them a junk anonymous id too) and `n`
    eligible identified rows a junk anonymous id: codes into NOT_IDS, set in place; return the rows changed.
    """
    anonymous = np.flatnonzero(eligible & (user < 0))
    known = np.flatnonzero(eligible & (user >= 0))
    to_user = rng.choice(anonymous, size=min(n, len(anonymous)), replace=False)
    to_anon = rng.choice(known, size=min(n, len(known)), replace=False)
    user_code[to_user] = FIRST_JUNK_CODE + np.arange(len(to_user)) % len(JUNK_IDS)
    anon_code[to_anon] = FIRST_JUNK_CODE + np.arange(len(to_anon)) % len(JUNK_IDS)
    both = to_user[: -(-len(to_user) // 5)]
    anon_code[both] = FIRST_JUNK_CODE + (np.arange(len(both)) + 3) % len(JUNK_IDS)
    return np.concatenate([to_user, to_anon])


def _context(
    rng: np.random.Generator,
    n_sess: int,
    ev_session: np.ndarray,
    ev_pos: np.ndarray,
    web: np.ndarray,
    page: np.ndarray,
    event: np.ndarray,
    platform: np.ndarray,
    dev_agent: np.ndarray,
) -> dict[str, np.ndarray]:
    """Track events' referrer and campaign codes (the session's channel on its landing event), device types
    and order revenue."""
    n_ev = len(ev_session)
    landing = np.flatnonzero(ev_pos == 0)  # the first event of each session, in session order
    # Each session arrives through a channel: its referrer (web only) and campaign go on the landing event.
    channel = np.searchsorted(np.cumsum([share for share, *_ in CHANNELS]), rng.random(n_sess), side="right")
    channel = np.minimum(channel, len(CHANNELS) - 1)
    ch_referrer = np.array([-1 if ref is None else REFERRERS.index(ref) for _, ref, _, _, _ in CHANNELS], np.int8)
    ch_source = np.array([-1 if src is None else CAMPAIGN_SOURCES.index(src) for _, _, src, _, _ in CHANNELS], np.int8)
    ch_medium = np.array([-1 if med is None else CAMPAIGN_MEDIUMS.index(med) for _, _, _, med, _ in CHANNELS], np.int8)
    ch_names = [[CAMPAIGN_NAMES.index(name) for name in names] for *_, names in CHANNELS]
    ch_name_count = np.array([len(names) for names in ch_names])
    ch_name_base = np.cumsum(ch_name_count) - ch_name_count
    name_codes = np.array([code for names in ch_names for code in names] or [0], dtype=np.int8)
    pick = (rng.random(n_sess) * np.maximum(ch_name_count[channel], 1)).astype(np.int64)
    sess_name = np.where(
        ch_name_count[channel] > 0,
        name_codes[np.minimum(ch_name_base[channel] + pick, len(name_codes) - 1)],
        np.int8(-1),
    )

    # Referrers: the landing's external one (NULL for direct visits and in apps); after it, on the web, the
    # page the visitor came from, NULL or ''.
    came_from = np.empty_like(page)
    came_from[0] = 0
    came_from[1:] = page[:-1] + np.int8(1 + len(EXTERNAL_REFERRERS))
    draw = rng.random(n_ev, dtype=np.float32)
    referrer = np.where(
        draw < TRACK_INTERNAL_REFERRER_SHARE,
        came_from,
        np.where(draw < TRACK_INTERNAL_REFERRER_SHARE + TRACK_NULL_REFERRER_SHARE, np.int8(-1), np.int8(0)),
    )
    del came_from
    referrer[landing] = ch_referrer[channel]
    referrer[~web] = -1

    # Campaigns: on the landing events of the sessions that came through one; NULL or '' elsewhere.
    blank = rng.random(n_ev, dtype=np.float32) < BLANK_CAMPAIGN_SHARE
    blank[landing] = rng.random(n_sess) < LANDING_BLANK_CAMPAIGN_SHARE
    empty = np.where(blank, np.int8(0), np.int8(-1))
    del draw, blank
    campaign = {}
    for column, per_session in (("source", ch_source[channel]), ("medium", ch_medium[channel]), ("name", sess_name)):
        codes = empty.copy()
        codes[landing] = np.where(per_session >= 0, per_session, empty[landing])
        campaign[f"campaign_{column}"] = codes

    # Device types: web browsers by user agent, app devices phones or tablets.
    device_type = np.where(
        platform == 0,
        np.where(dev_agent == MOBILE_USER_AGENT, 1, 0),
        np.where(rng.random(len(platform)) < APP_TABLET_SHARE, 2, 1),
    ).astype(np.int8)

    # Revenue of completed orders, in cents; NaN (NULL) on every other event.
    orders = np.flatnonzero(event == EV["order_completed"])
    cents = np.clip(np.rint(rng.lognormal(np.log(REVENUE_MEDIAN_CENTS), REVENUE_SIGMA, size=len(orders))), 199, 500_000)
    revenue = np.full(n_ev, np.nan)
    revenue[orders] = cents / 100
    return {"referrer": referrer, **campaign, "device_type": device_type, "revenue": revenue}


def _context_columns(act: _Activity, src: np.ndarray, dev: np.ndarray) -> dict[str, pa.DictionaryArray]:
    """The context columns every table has, for rows of the activity's events `src` on devices `dev`."""
    return {
        "referrer": _dictionary(act.referrer[src], REFERRERS),
        "campaign_source": _dictionary(act.campaign_source[src], CAMPAIGN_SOURCES),
        "campaign_medium": _dictionary(act.campaign_medium[src], CAMPAIGN_MEDIUMS),
        "campaign_name": _dictionary(act.campaign_name[src], CAMPAIGN_NAMES),
        "device_type": _dictionary(act.dev_type[dev], DEVICE_TYPES),
    }


def _screens(act: _Activity, rng: np.random.Generator) -> np.ndarray:
    """The screen (code into SCREEN_NAMES) of each app event, -1 on the web: the event's own screen, else
    the one it was on (a session opens on Home) or a browsing screen."""
    event_screen = np.full(len(EVENT_NAMES), -1, dtype=np.int8)
    for name, screen_name in EVENT_SCREEN.items():
        event_screen[EV[name]] = SCREEN_NAMES.index(screen_name)
    screen = event_screen[act.event]
    app = ~act.web
    screen[app & (act.ev_pos == 0) & (screen < 0)] = SCREEN_NAMES.index("Home")
    free = app & (screen < 0)
    browse = free & (rng.random(act.n_ev) >= STAY_ON_SCREEN_SHARE)
    screen[browse] = rng.integers(0, BROWSING_SCREENS, size=int(browse.sum()), dtype=np.int8)
    stays = app & (screen < 0)  # forward-filled within the session, whose first event has a screen
    source = np.where(stays, 0, np.arange(act.n_ev, dtype=np.int64))
    screen = screen[np.maximum.accumulate(source)]
    screen[~app] = -1
    return screen


def _call_events(act: _Activity, spot: np.ndarray) -> np.ndarray:
    """The track events a page or screen call precedes: those on a page or screen (`spot` >= 0) that opens
    their session or differs from the previous event's."""
    changed = np.ones(act.n_ev, dtype=bool)
    changed[1:] = spot[1:] != spot[:-1]
    return np.flatnonzero((spot >= 0) & (changed | (act.ev_pos == 0)))


def _calls(
    act: _Activity,
    rng: np.random.Generator,
    before: np.ndarray,
    spot: np.ndarray,
    id_base: int,
    *,
    pages: bool,
    junk: np.random.Generator | None = None,
) -> pa.Table:
    """A pages (`pages`) or screens table: one call shortly before each track event of `before`, named after
    `spot` (its page or screen), its ids from `id_base` on; a few copies, blank anonymous ids, and (pages) a
    few track events delivered again as page calls."""
    n = len(before)
    first = act.ev_pos[before] == 0
    gap = act.ts[before] - act.ts[before - 1]  # from the previous event of the session (unless first)
    lead = rng.uniform(0.3, 3.0, size=n) * US
    lead = np.where(first, lead, np.minimum(lead, gap * rng.uniform(0.2, 0.8, size=n))).astype(np.int64)
    if pages:
        draw = rng.random(n)
        internal = 1 + len(EXTERNAL_REFERRERS) + act.page[before - 1].astype(np.int64)
        referrer = np.where(
            draw < PAGE_INTERNAL_REFERRER_SHARE,
            internal,
            np.where(draw < PAGE_INTERNAL_REFERRER_SHARE + PAGE_NULL_REFERRER_SHARE, -1, 0),
        )
        referrer = np.where(first, act.referrer[before], referrer).astype(np.int8)
    else:
        referrer = np.full(n, -1, dtype=np.int8)
    blank_campaign = np.where(rng.random(n) < BLANK_CAMPAIGN_SHARE, 0, -1).astype(np.int8)
    campaign = {
        column: np.where(first, getattr(act, column)[before], blank_campaign).astype(np.int8)
        for column in ("campaign_source", "campaign_medium", "campaign_name")
    }
    call = {
        "src": id_base + np.arange(n, dtype=np.int64),
        "event": before,
        "user": np.where(act.login[before], -1, act.user[before]),  # the call before a login is anonymous
        "name": spot[before],
        "ts": act.ts[before] - lead,
        "sent": act.sent[before],  # flushed with the event it precedes
        "received": act.sent[before] + rng.integers(20_000, 400_000, size=n),
        "referrer": referrer,
        **campaign,
    }

    if pages:  # track events delivered again, as page calls with the track event's id: earlier or later
        candidates = np.flatnonzero(act.web & act.clean)
        again = np.sort(
            rng.choice(candidates, size=min(len(candidates), max(1, round(CROSS_TABLE_RATE * n))), replace=False)
        )
        later = act.received[again] + np.exp(rng.uniform(np.log(0.5 * US), np.log(6.0 * HOUR_US), size=len(again)))
        earlier = act.ts[again] + (act.received[again] - act.ts[again]) * rng.uniform(0.05, 0.95, size=len(again))
        received = np.where(np.arange(len(again)) % 2 == 0, earlier, later).astype(np.int64)
        extra = {
            "src": again,
            "event": again,
            "user": act.user[again],
            "name": act.page[again],
            "ts": act.ts[again],
            "sent": np.minimum(act.sent[again], received),
            "received": received,
            "referrer": act.referrer[again],
            **{column: getattr(act, column)[again] for column in campaign},
        }
        call = {column: np.concatenate([values, extra[column]]) for column, values in call.items()}

    # Copies of some calls (SDK retries), mostly received later, and blank anonymous ids on a few others.
    n_calls = len(call["src"])
    n_dup = min(n, max(1, round(DUPLICATE_RATE * n)))
    n_blank = min(n - n_dup, max(1, round(BLANK_ID_RATE * n)))
    dup, blank = np.split(rng.choice(n, size=n_dup + n_blank, replace=False), [n_dup])
    copy_received = call["received"][dup] + np.exp(
        rng.uniform(np.log(0.5 * US), np.log(6.0 * HOUR_US), size=len(dup))
    ).astype(np.int64)
    early = rng.random(len(dup)) < EARLIER_COPY_SHARE
    copy_received[early] = (
        call["ts"][dup[early]]
        + (call["received"][dup[early]] - call["ts"][dup[early]]) * rng.uniform(0.05, 0.95, size=int(early.sum()))
    ).astype(np.int64)
    anon_blank = np.zeros(n_calls, dtype=np.int8)
    anon_blank[blank] = np.arange(len(blank)) % 3 + 1  # '', '  ', '\t' in turn
    user_code = np.zeros(n_calls, dtype=np.int8)
    if junk is not None:  # identity links: junk ids on a few of the others
        eligible = np.ones(n_calls, dtype=bool)
        eligible[blank] = False
        _add_junk_ids(junk, max(2, round(JUNK_ID_RATE * n / 2)), call["user"], eligible, anon_blank, user_code)

    all_received = np.concatenate([call["received"], copy_received])
    order = np.argsort(all_received, kind="stable")
    row = np.concatenate([np.arange(n_calls, dtype=np.int64), dup])[order]
    row_received = all_received[order]
    del all_received, order
    src = call["event"][row]
    dev = act.ev_dev[src]
    user = call["user"][row]
    return pa.table(
        {
            "id": _uuids(call["src"][row], None, act.keys),
            "anon": act.dev_anon[dev],
            "anon_blank": anon_blank[row],
            "user_n": pa.array(user + 1, mask=user < 0),
            "user_blank": user_code[row],
            "name": _dictionary(call["name"][row], PAGE_NAMES if pages else SCREEN_NAMES),
            "ts": pa.array(call["ts"][row].view("datetime64[us]")),
            "received_at": pa.array(row_received.view("datetime64[us]")),
            "sent_at": pa.array(np.minimum(call["sent"][row], row_received).view("datetime64[us]")),
            "library": _dictionary(act.dev_platform[dev].astype(np.int8), LIBRARIES),
            "ip": act.dev_ip[dev],
            "page_path": _dictionary(act.page[src] if pages else np.full(len(row), -1, dtype=np.int8), PAGE_PATHS),
            "user_agent": _dictionary(act.dev_agent[dev].astype(np.int8), USER_AGENTS),
            "referrer": _dictionary(call["referrer"][row], REFERRERS),
            "campaign_source": _dictionary(call["campaign_source"][row], CAMPAIGN_SOURCES),
            "campaign_medium": _dictionary(call["campaign_medium"][row], CAMPAIGN_MEDIUMS),
            "campaign_name": _dictionary(call["campaign_name"][row], CAMPAIGN_NAMES),
            "device_type": _dictionary(act.dev_type[dev], DEVICE_TYPES),
        }
    )


def _uuids(src: np.ndarray, null: np.ndarray | None, keys: list[int]) -> pa.ExtensionArray:
    """UUID v4 ids of activity numbers `src` (distinct numbers give distinct ids); NULL where `null`."""
    hi = _mix64(src.astype(np.uint64), keys[1])
    lo = _mix64(src.astype(np.uint64), keys[2])
    # UUID v4 layout; lo is a bijection of the number, so ids are unique. Its top two bits, overwritten by
    # the variant, move into hi's two lowest bits to keep it that way.
    hi = (hi & np.uint64(0xFFFF_FFFF_FFFF_0FFC)) | np.uint64(0x4000) | (lo >> np.uint64(62))
    lo = (lo & np.uint64(0x3FFF_FFFF_FFFF_FFFF)) | np.uint64(0x8000_0000_0000_0000)
    id_bytes = np.empty((len(src), 2), dtype=">u8")
    id_bytes[:, 0] = hi
    id_bytes[:, 1] = lo
    del hi, lo
    valid = None if null is None else pa.py_buffer(np.packbits(~null, bitorder="little"))
    storage = pa.FixedSizeBinaryArray.from_buffers(pa.binary(16), len(src), [valid, pa.py_buffer(id_bytes)])
    return pa.ExtensionArray.from_storage(pa.uuid(), storage)


def _exact_flags(rng: np.random.Generator, n: int, share: float) -> np.ndarray:
    """0/1 flags with exactly round(share * n) ones, so small tables keep the rate too."""
    flags = np.zeros(n, dtype=np.int64)
    flags[rng.choice(n, size=round(share * n), replace=False)] = 1
    return flags


def _group_cumsum(values: np.ndarray, group_sizes: np.ndarray, *, exclusive: bool) -> np.ndarray:
    """Running sum restarting at each group (groups laid out contiguously, none empty).

    Computed in wrapping uint64: the global running sum may overflow int64 (people x window in µs), but
    each group's own sum fits, and modular differences give it exactly.
    """
    as_u = values.astype(np.uint64)
    running = np.cumsum(as_u)
    firsts = np.cumsum(group_sizes) - group_sizes
    before_group = running[firsts] - as_u[firsts]
    result = running - np.repeat(before_group, group_sizes)
    if exclusive:
        result -= as_u
    return result.view(np.int64)


def _mix64(values: np.ndarray, key: int) -> np.ndarray:
    """splitmix64 finaliser of `values + key`: random-looking, and a bijection, so ids stay distinct."""
    z = values + np.uint64(key & _MASK64)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _dictionary(codes: np.ndarray, names: list[str]) -> pa.DictionaryArray:
    """Small string columns as codes into a dictionary; negative codes are NULL."""
    return pa.DictionaryArray.from_arrays(pa.array(codes, mask=codes < 0), pa.array(names, pa.string()))


def _identifier(value: str) -> str:
    if not IDENTIFIER.fullmatch(value):
        raise argparse.ArgumentTypeError(f"{value!r} is not a valid identifier (letters, digits and _)")
    return value


def _bounded_int(low: int, high: int | None = None) -> Callable[[str], int]:
    def parse(value: str) -> int:
        try:
            number = int(value.replace("_", ""))
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r} is not an integer") from None
        if number < low or (high is not None and number > high):
            bounds = f"between {low:_} and {high:_}" if high is not None else f"at least {low:_}"
            raise argparse.ArgumentTypeError(f"{number:_} is out of range (must be {bounds})")
        return number

    parse.__name__ = "integer"  # argparse names the type in its messages
    return parse


def _tables(value: str) -> tuple[str, ...]:
    kinds = tuple(dict.fromkeys(part.strip() for part in value.split(",") if part.strip()))
    unknown = [kind for kind in kinds if kind not in EVENT_TABLES]
    if unknown or not kinds:
        raise argparse.ArgumentTypeError(f"{value!r}: name some of {','.join(EVENT_TABLES)}")
    return kinds


_tables.__name__ = "tables"  # argparse names the type in its messages


def main(argv: list[str] | None = None) -> int:
    """Command line: write sample event tables (by default only tracks) into a DuckDB file."""
    parser = argparse.ArgumentParser(description="Write deterministic sample RudderStack event tables.")
    parser.add_argument("--database", required=True, type=Path, help="DuckDB database file (created if missing)")
    parser.add_argument("--schema", default="rudderstack", type=_identifier)
    parser.add_argument("--table", default="tracks", type=_identifier, help="the tracks table's name (tracks only)")
    parser.add_argument(
        "--tables",
        default=("tracks",),
        type=_tables,
        help=f"comma-separated event tables to write, each under its own name, of {','.join(EVENT_TABLES)} "
        "(default: tracks)",
    )
    parser.add_argument(
        "--events",
        default=100_000,
        type=_bounded_int(CLI_MIN_EVENTS, CLI_MAX_EVENTS),
        help="about this many rows (in all the tables)",
    )
    parser.add_argument("--seed", default=42, type=_bounded_int(0))
    parser.add_argument("--days", default=90, type=_bounded_int(1), help="length of the event window")
    parser.add_argument(
        "--identity-links",
        action="store_true",
        help="also write the identifies and aliases tables, and give the events renamed users, people "
        "identified server-side only, kiosks and junk ids (for identity: graph)",
    )
    args = parser.parse_args(argv)
    if args.tables != ("tracks",) and args.table != "tracks":
        parser.error("--table names the tracks table when it is the only one: with --tables, tables keep their names")
    if args.identity_links and args.table in LINK_TABLES:
        parser.error(f"--table {args.table} is a link table's name: with --identity-links, name the tracks otherwise")

    database = args.database.resolve()
    began = time.perf_counter()
    with duckdb.connect(str(database)) as conn:
        options = {"schema": args.schema, "events": args.events, "seed": args.seed, "days": args.days}
        if args.tables == ("tracks",):
            counts = {args.table: write_tracks(conn, table=args.table, identity_links=args.identity_links, **options)}
            for table in LINK_TABLES if args.identity_links else ():
                counts[table] = conn.execute(f'SELECT count(*) FROM "{args.schema}"."{table}"').fetchone()[0]
        else:
            counts = write_events(conn, tables=args.tables, identity_links=args.identity_links, **options)
    written = ", ".join(f"{rows} rows to {args.schema}.{table}" for table, rows in counts.items())
    print(f"wrote {written} in {database} ({time.perf_counter() - began:.1f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
