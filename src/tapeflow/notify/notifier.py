"""The background e-mail notifier: trading hands it events and never waits.

``Notifier.notify(event)`` renders the event and puts it on a bounded in-memory queue
(``put_nowait``; when full the notification is dropped and counted) and returns at once; it
is safe from any thread or from the event loop, and never raises. One daemon thread,
``tapeflow-notify``, takes notifications off the queue, coalesces bursts
(:mod:`tapeflow.notify.coalesce`) and sends each resulting mail through SendGrid, retrying
connection errors, timeouts, HTTP 429 and 5xx with exponential back-off (tenacity, at most
``max_attempts``); a mail that still fails, or fails with another 4xx, is logged (without
secrets) and dropped. Nothing from the sending side is ever raised to the caller.
Registered secrets (the API key) are redacted from logs (see
:mod:`tapeflow.notify.redact`) and from the mail's own subject and body.

Life cycle: ``start()``; ``flush()`` (send everything pending now, e.g. before exit or in
tests); ``stop()`` (flush, then end the thread; pending retries get no further back-off).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_any,
    stop_when_event_set,
    wait_exponential,
)

from tapeflow.config.notify import NotifySettings
from tapeflow.model.events import Event
from tapeflow.model.notifications import Notification
from tapeflow.notify.coalesce import Coalescer, Digest
from tapeflow.notify.messages import compose, render
from tapeflow.notify.redact import add_secret, protect_loggers, redact
from tapeflow.notify.sendgrid_mail import SendGridMailer, describe, is_retryable

log = logging.getLogger("tapeflow.notify")  # one logger name: carries the redacting filter

_CONTROL_SLOTS = 8


@dataclass
class NotifierStats:
    """Counters since start: notifications ``received`` (accepted onto the queue),
    ``filtered`` (below ``min_priority``), ``dropped`` (queue full or notifier stopped),
    ``coalesced`` (merged into another mail), mails ``sent``, mails ``failed`` (given
    up), send ``retries``."""

    received: int = 0
    filtered: int = 0
    dropped: int = 0
    coalesced: int = 0
    sent: int = 0
    failed: int = 0
    retries: int = 0


@dataclass
class _Flush:
    done: threading.Event


_STOP = object()


class Notifier:
    """Coalescing, retrying, non-blocking SendGrid notifier; see the module docstring.

    Args:
        settings: notify settings; with ``enabled=False`` every call is a cheap no-op.
        clock: monotonic clock in seconds (injectable for tests of the window logic).
        mailer: the sender (default: :class:`SendGridMailer` from ``settings``); anything
            with ``send(subject, body, kind) -> int``.

    Raises:
        ValueError: enabled settings without key or addresses (already refused by
            :class:`NotifySettings`).
    """

    def __init__(
        self,
        settings: NotifySettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        mailer: Any | None = None,
    ) -> None:
        self.settings = settings
        self.stats = NotifierStats()
        self._clock = clock
        self._coalescer = Coalescer(settings.coalesce_window_s)
        self._inbox: queue.Queue[Any] = queue.Queue(maxsize=settings.queue_size + _CONTROL_SLOTS)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._stats_lock = threading.Lock()
        self._mailer = None
        if settings.enabled:
            if settings.api_key is not None:
                add_secret(settings.api_key.get_secret_value())
            protect_loggers()
            self._mailer = mailer or SendGridMailer(settings)

    # -- the trading side ------------------------------------------------------------------
    def notify(self, event: Event) -> bool:
        """Queue the notification for ``event``; True if queued. Never blocks or raises."""
        if self._mailer is None:
            return False
        try:
            notification = render(event)
        except Exception as exc:  # a malformed event must not hurt the caller
            log.error("notify: cannot render %s: %s", type(event).__name__, describe(exc))
            return False
        return notification is not None and self.submit(notification)

    def submit(self, notification: Notification) -> bool:
        """Queue an already rendered notification; True if queued. Never blocks or raises."""
        if self._mailer is None:
            return False
        if notification.priority > self.settings.min_priority:
            self._count("filtered")
            return False
        if self._stopping.is_set() or self._inbox.qsize() >= self.settings.queue_size:
            self._count("dropped")
            return False
        try:
            self._inbox.put_nowait(notification)
        except queue.Full:
            self._count("dropped")
            return False
        self._count("received")
        return True

    # -- life cycle ------------------------------------------------------------------------
    def start(self) -> None:
        """Start the sender thread (no-op when disabled or already running)."""
        if self._mailer is None or self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="tapeflow-notify", daemon=True)
        self._thread.start()

    def flush(self, timeout_s: float = 30.0) -> bool:
        """Send everything queued or held, now; True if done within ``timeout_s``."""
        if self._thread is None or not self._thread.is_alive():
            return False
        marker = _Flush(threading.Event())
        self._inbox.put(marker, timeout=timeout_s)
        return marker.done.wait(timeout_s)

    def stop(self, timeout_s: float = 30.0) -> None:
        """Flush, then end the sender thread (waits up to ``timeout_s``)."""
        thread = self._thread
        if thread is None:
            return
        self._stopping.set()
        try:
            self._inbox.put(_STOP, timeout=timeout_s)
        except queue.Full:
            log.warning("notify: queue full at stop; pending mail is dropped")
        thread.join(timeout_s)
        if thread.is_alive():
            log.warning("notify: sender thread still busy after %.0fs; abandoned", timeout_s)
        self._thread = None

    # -- the sender thread -----------------------------------------------------------------
    def _count(self, name: str, n: int = 1) -> None:
        with self._stats_lock:
            setattr(self.stats, name, getattr(self.stats, name) + n)

    def _run(self) -> None:
        while True:
            due = self._coalescer.next_due()
            timeout = None if due is None else max(0.0, due - self._clock())
            try:
                item = self._inbox.get(timeout=timeout)
            except queue.Empty:
                item = None
            try:
                if item is _STOP:
                    self._deliver_all(self._coalescer.drain())
                    return
                if isinstance(item, _Flush):
                    self._drain_inbox()
                    self._deliver_all(self._coalescer.drain())
                    item.done.set()
                    continue
                if item is not None:
                    self._offer(item)
                    self._drain_inbox()  # a backlog (sender was busy) coalesces as one burst
                self._deliver_all(self._coalescer.due(self._clock()))
            except Exception as exc:  # keep the thread alive whatever happens
                log.error("notify: sender loop error: %s", describe(exc))

    def _drain_inbox(self) -> None:
        """Move queued notifications (not control items) into the coalescer."""
        held: list[Any] = []
        while True:
            try:
                item = self._inbox.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, Notification):
                self._offer(item)
            else:
                held.append(item)
        for item in held:  # control items keep their turn
            self._inbox.put_nowait(item)

    def _offer(self, notification: Notification) -> None:
        before = self._coalescer.merged
        self._deliver_all(self._coalescer.offer(notification, self._clock()))
        self._count("coalesced", self._coalescer.merged - before)

    def _deliver_all(self, digests: list[Digest]) -> None:
        for digest in digests:
            self._deliver(digest)

    def _deliver(self, digest: Digest) -> None:
        subject, body = compose(digest, prefix=self.settings.subject_prefix)
        subject, body = redact(subject), redact(body)  # a mail is no place for a secret either
        kind = digest.notification.kind
        s = self.settings

        def pause(seconds: float) -> None:
            self._stopping.wait(seconds)  # stop() cuts a back-off short

        def before_sleep(state: RetryCallState) -> None:
            self._count("retries")
            exc = state.outcome.exception() if state.outcome else None
            log.warning(
                "notify: sending %r failed (attempt %d/%d): %s; retrying in %.1fs",
                subject,
                state.attempt_number,
                s.max_attempts,
                describe(exc) if exc else "?",
                state.next_action.sleep if state.next_action else 0.0,
            )

        retrying = Retrying(
            stop=stop_any(stop_after_attempt(s.max_attempts), stop_when_event_set(self._stopping)),
            wait=wait_exponential(multiplier=s.retry_initial_s, max=s.retry_max_s),
            retry=retry_if_exception(is_retryable),
            before_sleep=before_sleep,
            sleep=pause,
            reraise=True,
        )
        mailer = self._mailer
        assert mailer is not None, "only the sender thread delivers; start() needs a mailer"
        try:
            status = retrying(mailer.send, subject, body, kind)
        except Exception as exc:
            self._count("failed")
            log.error("notify: gave up on mail %r: %s", subject, describe(exc))
            return
        self._count("sent")
        log.info("notify: sent %r (HTTP %s, %d notification(s))", subject, status, digest.count)

    def snapshot(self) -> dict[str, int]:
        """The counters as a dict (for the status line)."""
        with self._stats_lock:
            return asdict(self.stats)
