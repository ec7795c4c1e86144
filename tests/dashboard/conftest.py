"""Clients for the dashboard's tests: a staff user, a user who is not staff, and htmx headers."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

HTMX = {"HX-Request": "true"}


@pytest.fixture
def staff_user(db: None) -> User:
    return User.objects.create_user("trader", password="s3cret-pass", is_staff=True)


@pytest.fixture
def staff_client(client: Client, staff_user: User) -> Client:
    client.force_login(staff_user)
    return client


@pytest.fixture
def viewer_client(client: Client, db: None) -> Client:
    client.force_login(User.objects.create_user("viewer", password="x"))
    return client


@pytest.fixture
def csrf_client(staff_user: User) -> Client:
    """A staff client that, like a browser, must send the CSRF token with every write."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)
    return client
