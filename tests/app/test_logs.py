"""Process logging: ccxt's request dumps (API-key headers) never reach the log."""

import logging

import pytest

from tapeflow.app.logs import configure_logging


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, logging.getLogger("ccxt").level)
    yield
    root.handlers[:], root.level = saved[0], saved[1]
    logging.getLogger("ccxt").setLevel(saved[2])


@pytest.mark.usefixtures("restore_logging")
def test_debug_level_keeps_ccxt_at_info() -> None:
    configure_logging("plain", "DEBUG")
    assert logging.getLogger("tapeflow.execution").isEnabledFor(logging.DEBUG)
    assert not logging.getLogger("ccxt.base.exchange").isEnabledFor(logging.DEBUG)
    assert logging.getLogger("ccxt.base.exchange").isEnabledFor(logging.INFO)


@pytest.mark.usefixtures("restore_logging")
def test_a_quieter_process_level_applies_to_ccxt_too() -> None:
    configure_logging("json", "WARNING")
    assert not logging.getLogger("ccxt").isEnabledFor(logging.INFO)
    assert logging.getLogger("ccxt").isEnabledFor(logging.WARNING)
