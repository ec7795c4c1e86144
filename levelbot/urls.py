"""levelbot URLs: the admin, Django's login, and the dashboard."""

from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "levelbot"
admin.site.site_title = "levelbot"
admin.site.index_title = "Levels, tiers, trades and bot settings"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("dashboard.urls")),
]
