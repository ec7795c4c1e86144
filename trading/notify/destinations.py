"""Where notifications go: Telegram and a webhook, configured from the environment only.

One HTTP POST per destination and attempt, with a short timeout. The Telegram bot token is part
of the URL, and a webhook URL often holds a secret of its own: neither ever appears in a log
line or in the message of an exception raised from here (`redact`).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

from trading.notify.notification import Kind, Notification

log = logging.getLogger("trading.notify")

TELEGRAM = "telegram"
WEBHOOK = "webhook"
TELEGRAM_TEXT_LIMIT = 4096  # Telegram refuses a longer message
BODY_EXCERPT = 300
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_sleep = time.sleep  # the wait between attempts (tests record it instead)


class DeliveryFailed(Exception):
    """A destination did not take a notification; the message is safe to log."""


class DeliveryError(DeliveryFailed):
    """A failure worth another try: the network, a timeout, a 5xx or 429 answer."""


class DeliveryRefused(DeliveryFailed):
    """The destination refused the message (4xx): trying again would not help."""


@dataclass(frozen=True)
class Destinations:
    """The destinations as the settings (the environment) give them."""

    telegram_token: str = ""
    telegram_chat_id: str = ""
    telegram_api_url: str = "https://api.telegram.org"
    webhook_url: str = ""
    kinds: frozenset[str] = frozenset()  # empty: every kind

    @classmethod
    def from_settings(cls) -> Destinations:
        return cls(
            telegram_token=settings.LEVELBOT_TELEGRAM_BOT_TOKEN,
            telegram_chat_id=settings.LEVELBOT_TELEGRAM_CHAT_ID,
            telegram_api_url=settings.LEVELBOT_TELEGRAM_API_URL,
            webhook_url=settings.LEVELBOT_WEBHOOK_URL,
            kinds=frozenset(settings.LEVELBOT_NOTIFY_KINDS),
        )

    def names(self) -> list[str]:
        """The destinations configured in full, in the order they are served."""
        names = []
        if self.telegram_token and self.telegram_chat_id:
            names.append(TELEGRAM)
        if self.webhook_url:
            names.append(WEBHOOK)
        return names

    def wants(self, kind: Kind) -> bool:
        return not self.kinds or kind.value in self.kinds

    def problems(self) -> list[str]:
        """What is half-configured, as sentences that say what to do."""
        found = []
        if self.telegram_token and not self.telegram_chat_id:
            found.append(
                "LEVELBOT_TELEGRAM_BOT_TOKEN is set without LEVELBOT_TELEGRAM_CHAT_ID: set the "
                "chat id too, or nothing goes to Telegram."
            )
        if self.telegram_chat_id and not self.telegram_token:
            found.append(
                "LEVELBOT_TELEGRAM_CHAT_ID is set without LEVELBOT_TELEGRAM_BOT_TOKEN: set the "
                "bot's token too, or nothing goes to Telegram."
            )
        unknown = sorted(self.kinds - {kind.value for kind in Kind})
        if unknown:
            found.append(
                f"LEVELBOT_NOTIFY_KINDS names unknown kinds ({', '.join(unknown)}); the kinds are "
                f"{', '.join(kind.value for kind in Kind)}."
            )
        return found

    def redact(self, text: str) -> str:
        """`text` with the token and the webhook's URL (its path may be a secret) taken out."""
        if self.telegram_token:
            text = text.replace(self.telegram_token, "<token>")
        if self.webhook_url:
            text = text.replace(self.webhook_url, _public(self.webhook_url))
            path = urlsplit(self.webhook_url)._replace(scheme="", netloc="").geturl()
            if len(path) > 1:
                text = text.replace(path, "/<secret>")
        return text


def _public(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/<secret>"


def _request(destination: str, notification: Notification, config: Destinations) -> Any:
    from urllib.request import Request

    if destination == TELEGRAM:
        url = f"{config.telegram_api_url.rstrip('/')}/bot{config.telegram_token}/sendMessage"
        message = f"{notification.title}\n{notification.text}"[:TELEGRAM_TEXT_LIMIT]
        body: dict[str, Any] = {"chat_id": config.telegram_chat_id, "text": message}
        variable = "LEVELBOT_TELEGRAM_API_URL"
    elif destination == WEBHOOK:
        url, body = config.webhook_url, notification.as_dict()
        variable = "LEVELBOT_WEBHOOK_URL"
    else:
        raise DeliveryRefused(f"Unknown destination {destination!r}: use telegram or webhook.")
    if urlsplit(url).scheme not in ("http", "https"):
        raise DeliveryRefused(
            config.redact(
                f"{destination} URL is not usable: {url} does not start with http:// or "
                f"https://; fix {variable}."
            )
        )
    return Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "User-Agent": "levelbot"},
        method="POST",
    )


def _opener(url: str) -> Any:
    """The default opener (proxies from the environment), except that a local address is
    never sent through a proxy."""
    from urllib.request import ProxyHandler, build_opener

    if urlsplit(url).hostname in LOCAL_HOSTS:
        return build_opener(ProxyHandler({}))
    return build_opener()


def send(destination: str, notification: Notification, config: Destinations | None = None) -> None:
    """Deliver once to `destination`, or raise DeliveryError (try again) or DeliveryRefused."""
    from urllib.error import HTTPError

    config = config or Destinations.from_settings()
    timeout = float(settings.LEVELBOT_NOTIFY_TIMEOUT_S)
    try:
        request = _request(destination, notification, config)
        with _opener(request.full_url).open(request, timeout=timeout) as response:
            response.read()
    except HTTPError as e:
        try:
            excerpt = " ".join(e.read(BODY_EXCERPT).decode(errors="replace").split())
        except Exception:
            excerpt = ""
        message = config.redact(f"{destination} answered HTTP {e.code}: {excerpt}")
        if e.code == 429 or e.code >= 500:
            raise DeliveryError(message) from None
        raise DeliveryRefused(message) from None
    except DeliveryFailed:
        raise
    except ValueError as e:  # a malformed URL, such as one without http(s)://
        message = config.redact(f"{destination} URL is not usable: {e}")
        raise DeliveryRefused(message) from None
    except Exception as e:  # the network: refused, reset, timed out, DNS
        reason = getattr(e, "reason", None) or e
        message = config.redact(f"{destination} unreachable: {type(e).__name__}: {reason}")
        raise DeliveryError(message) from None


def send_with_retries(
    destination: str,
    notification: Notification,
    *,
    config: Destinations | None = None,
) -> bool:
    """Deliver with up to LEVELBOT_NOTIFY_ATTEMPTS tries, waiting LEVELBOT_NOTIFY_BACKOFF_S,
    then twice as long each time; a refusal is not retried. Logs, never raises; True when
    delivered."""
    config = config or Destinations.from_settings()
    attempts = max(1, int(settings.LEVELBOT_NOTIFY_ATTEMPTS))
    delay = float(settings.LEVELBOT_NOTIFY_BACKOFF_S)
    kind = notification.kind.value
    for attempt in range(1, attempts + 1):
        try:
            send(destination, notification, config)
            return True
        except DeliveryRefused as e:
            log.error("%s notification not delivered: %s", kind, e)
            return False
        except DeliveryError as e:
            if attempt == attempts:
                log.error(
                    "%s notification not delivered, gave up after %d attempts: %s",
                    kind,
                    attempts,
                    e,
                )
                return False
            log.warning(
                "%s notification: attempt %d of %d failed (%s); next in %.2g s",
                kind,
                attempt,
                attempts,
                e,
                delay,
            )
            _sleep(delay)
            delay *= 2
    return False
