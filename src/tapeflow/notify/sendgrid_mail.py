"""One e-mail through SendGrid's v3 API (``POST {host}/v3/mail/send``), with the sendgrid
package's client, and the rule for which failures are worth retrying."""

from __future__ import annotations

import http.client

from python_http_client import exceptions as http_errors
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import Category, From, Mail, To

from tapeflow.config.notify import NotifySettings
from tapeflow.notify.redact import add_secret, protect_loggers, redact


class SendGridMailer:
    """Sends plain-text mails from ``settings.from_address`` to ``settings.to_addresses``.

    The body SendGrid receives::

        {"from": {"email": ..., "name": ...}, "subject": ...,
         "personalizations": [{"to": [{"email": ...}, ...]}],
         "content": [{"type": "text/plain", "value": ...}],
         "categories": ["tapeflow", <kind>]}

    Args:
        settings: enabled notify settings (api key, addresses, host, HTTP timeout).

    Raises:
        ValueError: ``settings`` has no API key or no addresses.
    """

    def __init__(self, settings: NotifySettings) -> None:
        if settings.api_key is None or not settings.from_address or not settings.to_addresses:
            raise ValueError("SendGridMailer needs SENDGRID_API_KEY, from_address, to_addresses")
        key = settings.api_key.get_secret_value()
        add_secret(key)
        protect_loggers()
        self._settings = settings
        self._client = SendGridAPIClient(api_key=key, host=settings.host)
        # SendGridAPIClient takes no timeout; python_http_client propagates this one.
        self._client.client.timeout = settings.http_timeout_s

    def build(self, subject: str, body: str, kind: str) -> Mail:
        """The sendgrid ``Mail`` object for one message."""
        s = self._settings
        mail = Mail(
            from_email=From(s.from_address, s.from_name),
            to_emails=[To(address) for address in s.to_addresses],
            subject=subject,
            plain_text_content=body,
        )
        mail.category = [Category("tapeflow"), Category(kind)]
        return mail

    def send(self, subject: str, body: str, kind: str) -> int:
        """Send one mail; returns the HTTP status (202 when SendGrid accepted it).

        Raises:
            python_http_client.exceptions.HTTPError: SendGrid answered 4xx/5xx.
            OSError: connection refused, reset, timed out (``urllib.error.URLError`` ...).
        """
        response = self._client.send(self.build(subject, body, kind))
        return response.status_code


def is_retryable(exc: BaseException) -> bool:
    """True for failures a later attempt may fix: connection errors and timeouts, HTTP 429
    and 5xx. False for other 4xx (bad key, bad request): retrying cannot help."""
    if isinstance(exc, http_errors.HTTPError):
        return exc.status_code == 429 or exc.status_code >= 500
    # URLError (refused, DNS), TimeoutError and ConnectionResetError are all OSErrors.
    return isinstance(exc, OSError | http.client.HTTPException)


def describe(exc: BaseException) -> str:
    """A one-line, secret-free description of a send failure."""
    if isinstance(exc, http_errors.HTTPError):
        body = exc.body.decode("utf-8", "replace") if isinstance(exc.body, bytes) else exc.body
        return redact(f"HTTP {exc.status_code} {exc.reason}: {str(body)[:300]}")
    return redact(f"{type(exc).__name__}: {exc}")[:500]
