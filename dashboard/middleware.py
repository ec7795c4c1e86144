"""What the site adds around every request for safety: the Content-Security-Policy header, and
what an error report may show of the settings.

Django 5.2 sets X-Frame-Options, X-Content-Type-Options, Referrer-Policy and
Cross-Origin-Opener-Policy itself (settings.py); it has no Content-Security-Policy of its own.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.debug import SafeExceptionReporterFilter

# Every script and stylesheet is a static file of this site (htmx from django-htmx, no CDN) and
# no page has an inline script, style element or style attribute, so nothing inline is allowed:
# markup slipped into a page cannot run. 'self' in connect-src covers htmx's requests and the
# live socket (ws:/wss: to this host).
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        # Django's debug pages (DEBUG only) carry their own inline styles and scripts.
        debug_page = settings.DEBUG and response.status_code >= 400
        if not debug_page:
            response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        return response


# user:password@ in a URL (REDIS_URL, and so the channel layer's and celery's broker address).
URL_PASSWORD = re.compile(r"(?<=://)([^/@:\s]*):[^/@\s]+@")


class SecretsFilter(SafeExceptionReporterFilter):
    """Django's filter, which hides settings named like API, KEY, SECRET, TOKEN or PASS, and
    also the notification webhook (its URL is its password) and passwords inside URLs."""

    hidden_settings = re.compile(
        SafeExceptionReporterFilter.hidden_settings.pattern + "|WEBHOOK", flags=re.I
    )

    def cleanse_setting(self, key: Any, value: Any) -> Any:
        cleansed = super().cleanse_setting(key, value)
        if isinstance(cleansed, str):
            return URL_PASSWORD.sub(rf"\1:{self.cleansed_substitute}@", cleansed)
        return cleansed
