"""tapeflow.notify: e-mail notifications (SendGrid) from bus events, coalesced and sent
from a background thread so trading never waits on mail."""

from tapeflow.notify.messages import Notification, Priority
from tapeflow.notify.notifier import Notifier, NotifierStats
from tapeflow.notify.settings import NotifySettings
from tapeflow.notify.wiring import subscribe

__all__ = [
    "Notification",
    "Notifier",
    "NotifierStats",
    "NotifySettings",
    "Priority",
    "subscribe",
]
