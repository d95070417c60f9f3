"""Deterministic generator of a realistic RudderStack `tracks` table, for the demo, the tests and benchmarks.

The data has to exercise everything the session model must get right (see SPEC.md): people on several
devices, anonymous browsing that is identified later, devices that change hands, duplicate and late
deliveries, and the malformed rows the cleaning step counts. Every one of these occurs at every size from
1,000 events up, with exact (not merely expected) counts, so a small test table is never missing a case.

Generation is set-wise: numpy (seeded `default_rng`) draws integers and timestamps, DuckDB turns them
into strings while writing. The same seed, size, window and start always give the same table.

    python include/sample_data.py --database demo.duckdb --schema demo --table tracks --events 100000
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Callable
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

# The arrow columns below become the table's columns here; strings are built by DuckDB, set-wise.
_SELECT = """
SELECT
    CAST(id AS VARCHAR) AS id,
    CASE anon_blank WHEN 0 THEN 'anon-' || format('{{:016x}}', anon) WHEN 1 THEN '' WHEN 2 THEN '  '
        ELSE chr(9) END AS anonymous_id,
    CASE user_blank WHEN 0 THEN 'user-' || CAST(user_n AS VARCHAR) WHEN 1 THEN '' WHEN 2 THEN '  '
        ELSE chr(9) END AS user_id,
    CAST(event AS VARCHAR) AS event,
    CAST(ts AS TIMESTAMP) AS "timestamp",
    CAST(received_at AS TIMESTAMP) AS received_at,
    CAST(sent_at AS TIMESTAMP) AS sent_at,
    CAST(library AS VARCHAR) AS context_library_name,
    concat_ws('.', ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255) AS context_ip,
    CAST(page_path AS VARCHAR) AS context_page_path,
    CAST(user_agent AS VARCHAR) AS context_user_agent
FROM {source}
"""


def write_tracks(
    conn: duckdb.DuckDBPyConnection,
    *,
    schema: str = "rudderstack",
    table: str = "tracks",
    events: int = 100_000,
    seed: int = 42,
    days: int = 90,
    start: datetime = datetime(2026, 1, 1),
) -> int:
    """(Re)create `schema.table` with about `events` rows, duplicates and bad rows included; return the count.

    `start` is read as UTC (an aware datetime is converted); events fall in `[start, start + days)`.
    """
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
    start_us = (start - datetime(1970, 1, 1)) // timedelta(microseconds=1)

    arrow_table = _generate(events, seed, days * DAY_US, start_us)
    view = f"_sample_tracks_{seed}_{events}"
    conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    conn.register(view, arrow_table)
    try:
        conn.execute(f'CREATE OR REPLACE TABLE "{schema}"."{table}" AS ' + _SELECT.format(source=view))
    finally:
        conn.unregister(view)
    return arrow_table.num_rows


def _generate(total: int, seed: int, window_us: int, start_us: int) -> pa.Table:
    """Draw the whole table as arrow columns of integers, codes and timestamps, ordered by `received_at`."""
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
    del first_login, second_login, ev_pos
    event_page = np.full(len(EVENT_NAMES), -1, dtype=np.int8)
    for name, path in EVENT_PAGE.items():
        event_page[EV[name]] = PAGE_PATHS.index(path)
    page = event_page[event]
    browsing = page < 0
    page[browsing] = rng.integers(0, BROWSING_PAGES, size=int(browsing.sum()), dtype=np.int8)
    page[~web] = -1
    del web, browsing

    # Delivery: sent after an SDK flush delay, received after network latency; some devices were offline.
    flush = np.clip(rng.lognormal(0.0, 0.9, size=n_ev), 0.05, 30.0) * US
    late = rng.choice(n_ev, size=max(1, round(LATE_RATE * total)), replace=False)
    flush[late] = np.exp(rng.uniform(np.log(HOUR_US), np.log(4 * DAY_US), size=len(late)))
    sent = ts + flush.astype(np.int64)
    received = sent + rng.integers(20_000, 400_000, size=n_ev)
    del flush, late

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

    # Rows in arrival order (ties by row number), each one a base event or a copy of one.
    all_received = np.concatenate([received, copy_received])
    order = np.argsort(all_received, kind="stable")
    row_src = np.concatenate([np.arange(n_ev, dtype=np.int64), copy_src])[order]
    row_received = all_received[order]
    del all_received, order, copy_received, received
    row_sent = np.minimum(sent[row_src], row_received)
    del sent

    hi = _mix64(row_src.astype(np.uint64), keys[1])
    lo = _mix64(row_src.astype(np.uint64), keys[2])
    # UUID v4 layout; lo is a bijection of the row, so ids are unique. Its top two bits, overwritten by the
    # variant, move into hi's two lowest bits to keep it that way.
    hi = (hi & np.uint64(0xFFFF_FFFF_FFFF_0FFC)) | np.uint64(0x4000) | (lo >> np.uint64(62))
    lo = (lo & np.uint64(0x3FFF_FFFF_FFFF_FFFF)) | np.uint64(0x8000_0000_0000_0000)
    id_bytes = np.empty((len(row_src), 2), dtype=">u8")
    id_bytes[:, 0] = hi
    id_bytes[:, 1] = lo
    del hi, lo
    id_valid = pa.py_buffer(np.packbits(~id_null[row_src], bitorder="little"))
    id_storage = pa.FixedSizeBinaryArray.from_buffers(pa.binary(16), len(row_src), [id_valid, pa.py_buffer(id_bytes)])

    row_dev = ev_dev[row_src]
    row_user = user[row_src]
    return pa.table(
        {
            "id": pa.ExtensionArray.from_storage(pa.uuid(), id_storage),
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
        }
    )


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


def main(argv: list[str] | None = None) -> int:
    """Command line: write a sample tracks table into a DuckDB file."""
    parser = argparse.ArgumentParser(description="Write a deterministic sample RudderStack tracks table.")
    parser.add_argument("--database", required=True, type=Path, help="DuckDB database file (created if missing)")
    parser.add_argument("--schema", default="rudderstack", type=_identifier)
    parser.add_argument("--table", default="tracks", type=_identifier)
    parser.add_argument(
        "--events",
        default=100_000,
        type=_bounded_int(CLI_MIN_EVENTS, CLI_MAX_EVENTS),
        help="about this many rows",
    )
    parser.add_argument("--seed", default=42, type=_bounded_int(0))
    parser.add_argument("--days", default=90, type=_bounded_int(1), help="length of the event window")
    args = parser.parse_args(argv)

    database = args.database.resolve()
    began = time.perf_counter()
    with duckdb.connect(str(database)) as conn:
        rows = write_tracks(
            conn, schema=args.schema, table=args.table, events=args.events, seed=args.seed, days=args.days
        )
    print(f"wrote {rows} rows to {args.schema}.{args.table} in {database} ({time.perf_counter() - began:.1f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
