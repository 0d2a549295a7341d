"""The time-driven risk layer through the real engine, the paper exchange and the embedded
state store, on real BTCUSDT/ETHUSDT USD-M trades of 2024-08-08: the health score's bands
and actions, replay determinism on the market clock, the timer acting with no ticks, and
the daily trade cap."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from tapeflow.config.execution import DrawdownLevels, ExecutionSettings, RiskSettings
from tapeflow.execution.health import HealthBand, unrealized_pnl
from tapeflow.model.events import (
    ForceExitRequired,
    PortfolioHealthDegraded,
    PositionClosed,
    StopNewEntries,
    TightenStop,
)
from tests.execution.engine_support import BTC, ETH, Clock, drain, make_rig
from tests.execution.support import real_ticks, signal

TICKS = sorted(
    real_ticks("usdm", "BTCUSDT", "20240808") + real_ticks("usdm", "ETHUSDT", "20240808"),
    key=lambda t: (t.ts, str(t.key), t.trade_id),
)
START = next(i for i, t in enumerate(TICKS) if t.ts.minute == 55)  # 23:55:00
CB = Decimal("0.4")


def health_settings(**kw) -> ExecutionSettings:
    """Default health rules; the drawdown levels scaled down (circuit breaker 0.4 %) so
    that five minutes of real prices cross every health band; the critical level's own
    actions off, so only the health rules act."""
    kw.setdefault(
        "drawdown",
        DrawdownLevels(
            alert=Decimal("0.1"), warning=Decimal("0.15"), critical=Decimal("0.2"),
            circuit_breaker=CB,
        ),
    )  # fmt: skip
    return ExecutionSettings(
        risk=RiskSettings(leverage=Decimal(5), max_position_pct=Decimal(50)),
        block_entries_at_critical=False,
        critical_tighten_factor=None,
        stop_persist_interval_s=0,
        **kw,
    )


@dataclass
class Snapshot:
    at: datetime
    score: Decimal
    band: HealthBand
    expected: Decimal | None  # recomputed from the positions and last prices
    stops: dict[str, Decimal] = field(default_factory=dict)  # position -> distance after
    status: dict[str, str] = field(default_factory=dict)


def expected_score(engine, last: dict, ids: set[str]) -> Decimal | None:
    """The documented formula, recomputed from the stored positions and the last trade
    price of each symbol (the drawdown from the engine's measured equity)."""
    start, equity = engine.risk.day_start_equity, engine.risk.last_equity
    dd = max(Decimal(0), (start - equity) / start * 100)
    upnls = [
        unrealized_pnl(p.direction, p.entry_price, last[p.symbol], p.quantity)
        for p in engine.store.list_positions(status=["open", "closing"])
        if p.position_id in ids
    ]
    if not upnls:
        return None
    open_loss = max(Decimal(0), -sum(upnls)) / equity * 100
    losing = Decimal(sum(1 for u in upnls if u < 0)) / len(upnls)
    return 100 - 50 * min(1, dd / CB) - 30 * min(1, open_loss / CB) - 20 * losing


async def scenario(rig, *, market_clock: bool = False) -> list[Snapshot]:
    """Long BTC and long ETH at 23:55:00, then every trade to 23:57: a snapshot per
    health check."""
    engine = rig.engine

    async def tick(t):
        if not market_clock:
            rig.clock.now = t.ts
        await engine.on_tick(t)

    last: dict[str, Decimal] = {}
    for t in TICKS[:START]:
        last[str(t.key)] = t.price
        await tick(t)
    for key in (BTC, ETH):
        p = last[str(key)]
        assert (
            await engine.on_signal(signal(key, "long", p, p * Decimal("0.99"), minute=55))
        ).accepted
    snaps: list[Snapshot] = []
    seen = None
    for t in TICKS[START:]:
        if t.ts.minute >= 57:
            break
        last[str(t.key)] = t.price
        before = {p.position_id: p.status for p in engine.book.active()}
        await tick(t)
        h = engine.health.last
        if h is None or h is seen:
            continue
        seen = h
        expected = expected_score(engine, last, {k for k, v in before.items() if v == "open"})
        stops = {pid: s.distance_pct for pid in before if (s := engine.stops.get(pid))}
        status = {p.position_id: p.status for p in engine.book.active()}
        snaps.append(Snapshot(h.at, h.score, h.band, expected, stops, status))
    return snaps


async def test_health_bands_act_at_their_thresholds_on_real_prices(store):
    rig = await make_rig(store, health_settings())
    snaps = await scenario(rig)
    events = await drain(rig)
    # every score is the documented formula over the real positions and prices
    scored = [s for s in snaps if s.expected is not None]
    assert len(scored) == len(snaps) >= 9
    for s in scored:
        assert s.score == s.expected, s.at
    bands = [s.band for s in snaps]
    assert HealthBand.HEALTHY in bands and HealthBand.CLOSE_WORST in bands
    first = {b: next(s for s in snaps if s.band >= b) for b in HealthBand if b}
    # < 70: entries stop, once per fall from healthy; the 51.1 check (not below 50) does
    # not tighten; the 32.2 check (not below 30) closes nothing
    stop_entries = [e for e in events if isinstance(e, StopNewEntries)]
    falls = [b.at for a, b in itertools.pairwise(snaps) if a.band == 0 < b.band]
    assert snaps[0].band == HealthBand.HEALTHY
    assert [e.at for e in stop_entries] == falls
    assert len(falls) == 2  # 64.3 at 23:55:16, recovered to 77.5, then 51.1 at 23:55:46
    assert stop_entries[0].score < 70
    assert any(50 <= s.score < 70 for s in snaps if s.at < first[HealthBand.TIGHTEN].at)
    tightened = [e for e in events if isinstance(e, TightenStop)]
    assert {e.at for e in tightened} == {first[HealthBand.TIGHTEN].at}
    assert len(tightened) == 2 and all(e.distance_pct == Decimal("0.3") for e in tightened)
    for s in snaps:
        want = Decimal("0.3") if s.at >= first[HealthBand.TIGHTEN].at else Decimal("0.5")
        assert all(d == want for d in s.stops.values()), s
    close_at = first[HealthBand.CLOSE_WORST]
    assert any(30 <= s.score < 50 for s in snaps if s.at < close_at.at)
    assert all(set(s.status.values()) == {"open"} for s in snaps if s.at < close_at.at)
    forced = [e for e in events if isinstance(e, ForceExitRequired)]
    assert [e.at for e in forced] == [close_at.at, close_at.at]
    assert all(e.rule == "health" for e in forced)
    # worst first: the larger unrealised loss was closed first
    losses = [Decimal(e.reason.rsplit(" ", 1)[1]) for e in forced]
    assert losses[0] < losses[1] < 0
    assert set(close_at.status.values()) == {"closing"}
    degraded = [e for e in events if isinstance(e, PortfolioHealthDegraded)]
    assert [(e.at, e.band) for e in degraded] == [
        (first[HealthBand.TIGHTEN].at, "TIGHTEN"),
        (close_at.at, "CLOSE_WORST"),
    ]
    closed = [e for e in events if isinstance(e, PositionClosed)]
    assert len(closed) == 2 and all(e.reason.startswith("portfolio health") for e in closed)


async def test_entries_are_refused_below_70_and_allowed_again_after_recovery(store):
    rig = await make_rig(store, health_settings())
    engine = rig.engine
    await rig.feed(TICKS[:START])
    for key in (BTC, ETH):
        p = engine._marks[key]
        assert (
            await engine.on_signal(signal(key, "long", p, p * Decimal("0.99"), minute=55))
        ).accepted
    blocked = recovered = None
    for t in TICKS[START:]:
        await rig.feed([t])
        h = engine.health.last
        if h is None:
            continue
        if blocked is None and h.band == HealthBand.STOP_ENTRIES:
            blocked = h
            p = engine._marks[BTC]
            res = await engine.on_signal(signal(BTC, "short", p, p * Decimal("1.01"), minute=56))
            assert (res.accepted, res.refused_by) == (False, "risk")
            assert f"portfolio health: score {h.score:.2f} < 70" in res.reason
        elif blocked is not None and h.band == HealthBand.HEALTHY:
            recovered = h
            assert engine.risk.entry_block(h.at) is None
            break
    assert blocked is not None and recovered is not None
    assert blocked.score < 70 <= recovered.score


async def test_a_replay_on_the_market_clock_makes_the_same_decisions_every_run(
    open_store, tmp_path
):
    """Two runs on the market clock with the wall clock moving underneath give exactly the
    same checks, scores and exits as a run whose clock is the trade time."""
    reference = await scenario(await make_rig(open_store(), health_settings()))
    runs = []
    for n in range(2):
        from tapeflow.state.embedded import EmbeddedStore

        store = EmbeddedStore(tmp_path / f"replay{n}.db")
        rig = await make_rig(store, health_settings(), market_clock=True)
        rig.engine._wall = lambda: datetime.now(UTC)  # the wall clock must not matter
        snaps = await scenario(rig, market_clock=True)
        events = await drain(rig)
        forced = [
            (e.at, e.position_id, e.reason) for e in events if isinstance(e, ForceExitRequired)
        ]
        closed = sorted(
            (p.position_id, p.opened_at, p.closed_at, p.close_reason)
            for p in store.list_positions(status="closed")
        )
        runs.append(([(s.at, s.score, s.band) for s in snaps], forced, closed))
        store.close()
    assert runs[0] == runs[1]
    assert runs[0][0] == [(s.at, s.score, s.band) for s in reference]
    assert all(at.date() == datetime(2024, 8, 8).date() for at, *_ in runs[0][1])


async def test_the_timer_closes_a_position_past_its_hold_time_with_no_ticks(store):
    settings = ExecutionSettings(
        risk=RiskSettings(leverage=Decimal(5), max_position_pct=Decimal(50), max_hold_minutes=1),
        risk_check_interval_s=0,
        timer_interval_s=0.01,
    )
    rig = await make_rig(store, settings)
    engine = rig.engine
    await rig.feed(TICKS[:START])
    p = engine._marks[BTC]
    sig = signal(BTC, "long", p, p * Decimal("0.99"), minute=55)
    assert (await engine.on_signal(sig)).accepted
    fill = next(i for i in range(START, len(TICKS)) if TICKS[i].key == BTC)
    await rig.feed(TICKS[START : fill + 1])  # the entry fills; then the feed dies
    opened_at = store.get_position(sig.signal_id).opened_at
    assert opened_at == TICKS[fill].ts
    rig.clock.now = opened_at + timedelta(minutes=1) - timedelta(microseconds=1)
    engine.start_timer()
    runs = engine.timer_runs
    while engine.timer_runs < runs + 3:  # just below the limit: three passes, still open
        await asyncio.sleep(0.01)
    assert engine.book.get(sig.signal_id).status == "open"
    rig.clock.now = opened_at + timedelta(minutes=1)
    async with asyncio.timeout(30):  # a bound on waiting, not a timed assertion
        while not any(isinstance(e, ForceExitRequired) for e in rig.events):
            await asyncio.sleep(0.01)
    assert engine.book.get(sig.signal_id).status == "closing"
    await engine.stop()
    events = await drain(rig)
    [forced] = [e for e in events if isinstance(e, ForceExitRequired)]
    assert (forced.rule, forced.reason, forced.at) == (
        "hold_time",
        "max hold time reached",
        opened_at + timedelta(minutes=1),
    )
    nxt = next(t for t in TICKS[fill + 1 :] if t.key == BTC)
    await rig.feed([nxt])  # the feed is back: the exit fills at its first trade
    closed = store.get_position(sig.signal_id)
    assert (closed.status, closed.close_reason) == ("closed", "max hold time reached")


async def test_five_entries_a_utc_day_the_sixth_refused_until_the_next_day(open_store):
    store = open_store()
    rig = await make_rig(store, ExecutionSettings(risk_check_interval_s=0))
    engine = rig.engine
    i = START
    await rig.feed(TICKS[:i])
    for n, direction in enumerate(["long", "short", "long", "short", "long"]):
        p = engine._marks[BTC]
        stop = p * (Decimal("0.99") if direction == "long" else Decimal("1.01"))
        res = await engine.on_signal(signal(BTC, direction, p, stop, minute=n))
        assert res.accepted, res.reason  # the fifth is the last one allowed
        assert engine.trade_rate.today(rig.clock.now) == n + 1
        j = next(k for k in range(i, len(TICKS)) if TICKS[k].key == BTC)
        await rig.feed(TICKS[i : j + 1])  # the entry (and the reversal's exit) fill
        i = j + 1
    p = engine._marks[ETH]
    res = await engine.on_signal(signal(ETH, "long", p, p * Decimal("0.99"), minute=10))
    assert (res.accepted, res.refused_by) == (False, "trade_rate")
    assert res.reason == "5 entries today (2024-08-08 UTC); max_trades_per_day 5"
    await engine.stop()
    # a restart does not reset the count
    again = await make_rig(
        open_store(), ExecutionSettings(risk_check_interval_s=0), clock=Clock(rig.clock.now)
    )
    res = await again.engine.on_signal(signal(ETH, "long", p, p * Decimal("0.99"), minute=11))
    assert (res.accepted, res.refused_by) == (False, "trade_rate")
    # the next UTC day starts a new count
    again.clock.now = datetime(2024, 8, 9, 0, 0, tzinfo=UTC)
    assert again.engine.trade_rate.block(again.clock.now) is None
    res = await again.engine.on_signal(signal(ETH, "long", p, p * Decimal("0.99"), minute=12))
    assert res.accepted, res.reason
