"""Websocket routes: the dashboard's live socket, for logged-in staff from this site only."""

from channels.auth import AuthMiddlewareStack
from channels.routing import URLRouter
from channels.security.websocket import AllowedHostsOriginValidator

from dashboard.routing import websocket_urlpatterns

# The session cookie identifies the user; the Origin check keeps another site's page from
# opening the socket with it (browsers send cookies with cross-site websocket handshakes). The
# check takes ALLOWED_HOSTS as they are when this module is first imported.
websocket_application = AllowedHostsOriginValidator(
    AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
)
