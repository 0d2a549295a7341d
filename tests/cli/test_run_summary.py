"""The run summary's execution table: engine counters as readable pairs, not a dict."""

from tapeflow.cli.run import _venue_details


def test_venue_details_read_as_pairs_and_leave_out_the_empty_ones() -> None:
    status = {
        "positions": 1,
        "stops": 2,
        "risk_level": "NORMAL",
        "halted": False,
        "degraded": {},
        "health": "84.5",
        "trades_today": 1,
        "refusals": {"risk": 3, "sizing": 1},
    }
    assert _venue_details(status) == (
        "stops 2, health 84.5, trades today 1, refusals risk: 3, refusals sizing: 1"
    )


def test_a_halted_venue_says_so() -> None:
    assert _venue_details({"stops": 0, "halted": True, "health": None}) == "stops 0, halted"
