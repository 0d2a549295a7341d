"""A notification: what the notifier tells a human about an event, and how urgent it is."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntEnum


class Priority(IntEnum):
    """Urgency of a notification; lower is more urgent."""

    P1 = 1
    P2 = 2
    P3 = 3


@dataclass(frozen=True, slots=True)
class Notification:
    """One thing worth telling a human.

    Attributes:
        priority: urgency, shown in the subject.
        kind: machine name (``"connection_lost"``, ...), also a SendGrid category.
        title: subject text after the priority tag.
        body: plain-text body.
        coalesce_key: notifications sharing it are "similar" and merge within the window.
        detail: one line telling this one apart from the others in its group.
        hold: True for bursty kinds: wait out the window and send one counted mail.
        at: when the underlying event happened (UTC).
    """

    priority: Priority
    kind: str
    title: str
    body: str
    coalesce_key: str
    detail: str
    hold: bool = False
    at: datetime = field(default_factory=lambda: datetime.now(UTC))
