"""Logging in, with a brake on password guessing, for the dashboard's login and the admin's.

After MAX_FAILURES wrong passwords for one username from one address within WINDOW_S, further
attempts are answered 429 with the form and a sentence saying what to do, and the password is
not checked at all until the window, counted from the first failure, is over. A successful login
clears the count.

The failures are counted in Django's default cache, which is kept in memory per process: right
for the one daphne process that serves the site (Procfile). A site served by several processes
would give each its own count, and would need a shared cache for the limit to hold.

Behind the TLS proxy every request comes from the proxy's address, so the count is then per
username: guessing stays as slow, and someone who knows a username can hold its owner off for
WINDOW_S at most.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.admin import AdminSite
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView
from django.core.cache import cache
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.http import HttpRequest, HttpResponse

from trading.management.commands.seed_demo import DEMO_PASSWORD, DEMO_USERNAME

MAX_FAILURES = 5
WINDOW_S = 15 * 60

TOO_MANY = "too_many_attempts"
TOO_MANY_MESSAGE = (
    "Too many failed logins for this username: wait 15 minutes and try again, or ask an "
    "administrator to set a new password for you (python manage.py changepassword USERNAME)."
)
DEMO_OFF_MESSAGE = (
    "The demo login works only in demo mode (LEVELBOT_DEMO=1). Create your own staff user with: "
    "python manage.py createsuperuser"
)

View = Callable[..., HttpResponse]


def _failures_key(request: HttpRequest | None, username: str) -> str:
    address = request.META.get("REMOTE_ADDR", "") if request is not None else ""
    # Hashed: a username may hold characters a cache key must not.
    digest = hashlib.sha256(f"{username.casefold()}\n{address}".encode()).hexdigest()
    return f"levelbot:login-failures:{digest}"


class RateLimitedLogin(AuthenticationForm):
    """Refuses without checking the password once the username has failed too often."""

    def clean(self) -> dict[str, Any]:
        key = _failures_key(self.request, self.data.get("username", "").strip())
        if cache.get(key, 0) >= MAX_FAILURES:
            raise ValidationError(TOO_MANY_MESSAGE, code=TOO_MANY)
        try:
            cleaned = super().clean()
        except ValidationError:
            # add() starts the window with the first failure; incr() keeps its expiry.
            if not cache.add(key, 1, WINDOW_S):
                try:
                    cache.incr(key)
                except ValueError:  # the window ended in between
                    cache.add(key, 1, WINDOW_S)
            raise
        cache.delete(key)
        return cleaned

    def confirm_login_allowed(self, user: Any) -> None:
        super().confirm_login_allowed(user)
        # A database first seeded in demo mode keeps its demo login: it opens nothing once the
        # site runs for real.
        demo_login = (
            user.get_username() == DEMO_USERNAME
            and self.cleaned_data.get("password") == DEMO_PASSWORD
        )
        if demo_login and not settings.DEMO:
            raise ValidationError(DEMO_OFF_MESSAGE, code="demo_off")


class RateLimitedAdminLogin(RateLimitedLogin, AdminAuthenticationForm):
    """The admin's login form (staff only), with the same brake."""


def too_many_is_429(view: View) -> View:
    """Answer 429 Too Many Requests when the login form was refused for too many failures."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        form = (getattr(response, "context_data", None) or {}).get("form")
        if form is not None and form.is_bound and form.has_error(NON_FIELD_ERRORS, TOO_MANY):
            response.status_code = 429
        return response

    return wrapper


login = too_many_is_429(LoginView.as_view(authentication_form=RateLimitedLogin))


def protect_admin_login(site: AdminSite) -> None:
    """Give the admin's login the same brake; call before `site.urls` is read."""
    site.login_form = RateLimitedAdminLogin
    site.login = too_many_is_429(site.login)  # type: ignore[method-assign]
