"""Dashboard views. For now the admin is the interface: `/` leads there."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET

from dashboard.decorators import staff_required


@require_GET
@staff_required
def index(request: HttpRequest) -> HttpResponse:
    return redirect("admin:index")
