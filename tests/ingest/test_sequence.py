"""Trade-id continuity: which observations become repair requests."""

from __future__ import annotations

import time

from tapeflow.ingest.sequence import GapRequest, SequenceTracker
from tapeflow.model.symbols import SymbolKey

K = SymbolKey("binance", "usdm", "BTCUSDT")
E = SymbolKey("binance", "usdm", "ETHUSDT")


def test_contiguous_stream_asks_for_nothing():
    tr = SequenceTracker(grace_s=0.5)
    tr.start(K, None)
    assert [tr.observe(K, i) for i in range(100, 110)] == [None] * 10
    assert tr.highest[K] == 109
    assert (tr.jumps, tr.late) == (0, 0)


def test_jump_asks_for_the_hole_after_a_grace_and_late_ids_are_counted():
    tr = SequenceTracker(grace_s=0.5)
    tr.start(K, None)
    tr.observe(K, 100)
    assert tr.observe(K, 104) == GapRequest(K, 101, 103, "stream id jump", 0.5)
    assert tr.observe(K, 102) is None  # late, out of order
    assert tr.observe(K, 104) is None  # duplicate
    assert tr.observe(K, 105) is None
    assert (tr.jumps, tr.late, tr.highest[K]) == (1, 2, 105)


def test_startup_probe_asks_for_everything_since_the_store_without_grace():
    tr = SequenceTracker(grace_s=0.5)
    tr.start(K, 1000)
    tr.start(E, None)  # empty store: nothing to compare with
    assert tr.probing() == 1
    assert tr.observe(K, 1500) == GapRequest(K, 1001, 1499, "startup", 0.0, None)
    assert tr.observe(E, 7) is None
    assert tr.probing() == 0
    assert tr.observe(K, 1501) is None


def test_probe_whose_first_tick_follows_on_returns_an_empty_range():
    tr = SequenceTracker()
    tr.start(K, 1000)
    req = tr.observe(K, 1001)
    assert req is not None and req.first > req.last  # "nothing missing"


def test_reconnect_probe_carries_its_episode_and_times_out_into_a_tail_fetch():
    tr = SequenceTracker(probe_timeout_s=0.05)
    tr.start(K, None)
    tr.observe(K, 10)
    episode = object()
    assert tr.probe([K, E], "reconnect", episode) == [E]  # E never seen: cannot have a gap
    assert tr.expired_probes() == []
    time.sleep(0.06)
    assert tr.expired_probes() == [GapRequest(K, 11, None, "reconnect (tail)", 0.0, episode)]
    assert tr.probing() == 0
