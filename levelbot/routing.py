"""Websocket routes: the dashboard's live socket, for logged-in staff from this site only."""

from channels.auth import AuthMiddlewareStack
from channels.routing import URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import path

from dashboard.consumers import LiveConsumer

websocket_urlpatterns = [path("ws/live", LiveConsumer.as_asgi())]

# The session cookie identifies the user; the Origin check keeps another site's page from
# opening the socket with it (browsers send cookies with cross-site websocket handshakes).
websocket_application = AllowedHostsOriginValidator(
    AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
)
