"""Access to the dashboard: every page, partial and action is for logged-in staff only."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django_htmx.http import HttpResponseClientRedirect

View = Callable[..., HttpResponse]


def staff_required(view: View) -> View:
    """Send visitors to the login page; refuse (403) users who are logged in but not staff.

    An htmx request (a table polled after the session expired) gets a client redirect, so the
    browser opens the login page, coming back to the page it was on, instead of the login page
    being swapped into a table.
    """

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = request.user
        if not user.is_authenticated:
            htmx = getattr(request, "htmx", None)
            if htmx:
                back_to = htmx.current_url_abs_path or request.get_full_path()
                return HttpResponseClientRedirect(redirect_to_login(back_to).url)
            return redirect_to_login(request.get_full_path())
        if not (user.is_active and user.is_staff):
            raise PermissionDenied("The dashboard is for staff users only.")
        return view(request, *args, **kwargs)

    return wrapper
