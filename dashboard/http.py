"""What every dashboard view shares: the typed request and page-or-partial rendering."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def render_page(
    request: HtmxHttpRequest,
    template_name: str,
    context: dict[str, Any],
    *,
    partial: str,
    status: int = 200,
) -> HttpResponse:
    """The full page for a plain request; only its named partial for an htmx request."""
    name = f"{template_name}#{partial}" if request.htmx else template_name
    response = render(request, name, context, status=status)
    # One URL, two bodies: a cache must not hand the partial to a plain request.
    patch_vary_headers(response, ["HX-Request"])
    return response
