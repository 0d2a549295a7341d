"""tapeflow.notify: e-mail notifications (SendGrid) from bus events, coalesced and sent
from a background thread so trading never waits on mail."""

from tapeflow.notify.notifier import Notifier, NotifierStats
from tapeflow.notify.wiring import subscribe

__all__ = [
    "Notifier",
    "NotifierStats",
    "subscribe",
]
