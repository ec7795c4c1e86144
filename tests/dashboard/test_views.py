from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

pytestmark = pytest.mark.django_db


def test_dashboard_sends_visitors_to_the_login_page(client: Client) -> None:
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/"


def test_dashboard_opens_for_staff(admin_client: Client) -> None:
    response = admin_client.get("/")
    assert response.status_code == 200
    assert "<h1>Dashboard</h1>" in response.content.decode()


def test_dashboard_refuses_users_who_are_not_staff(client: Client) -> None:
    client.force_login(User.objects.create_user("viewer", password="x"))
    response = client.get("/")
    assert response.status_code == 403
    assert "The dashboard is for staff users only." in response.content.decode()


def test_login_page_logs_staff_in_and_leads_to_the_dashboard(client: Client) -> None:
    User.objects.create_user("trader", password="s3cret-pass", is_staff=True)
    page = client.get("/accounts/login/?next=/")
    assert page.status_code == 200
    assert 'name="username"' in page.content.decode()
    response = client.post(
        "/accounts/login/", {"username": "trader", "password": "s3cret-pass", "next": "/"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.get("/").status_code == 200


def test_login_page_says_when_the_password_is_wrong(client: Client) -> None:
    User.objects.create_user("trader", password="s3cret-pass", is_staff=True)
    response = client.post("/accounts/login/", {"username": "trader", "password": "nope"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()
