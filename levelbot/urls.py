"""levelbot URLs: the admin, logging in and out, and the dashboard."""

from django.contrib import admin
from django.contrib.auth.views import LogoutView
from django.urls import include, path

from dashboard.login import login, protect_admin_login

admin.site.site_header = "levelbot"
admin.site.site_title = "levelbot"
admin.site.index_title = "Levels, tiers, trades and bot settings"
protect_admin_login(admin.site)

# Only logging in and out from django.contrib.auth: its password reset pages are open to anyone
# and would mail a link through a mail server levelbot does not have, and staff change their
# password in the admin.
urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/login/", login, name="login"),
    path("accounts/logout/", LogoutView.as_view(), name="logout"),
    path("", include("dashboard.urls")),
]
