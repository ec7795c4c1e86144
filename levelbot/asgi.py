"""ASGI entry point: daphne serves Django over http and the dashboard's live socket."""

import os

from channels.routing import ProtocolTypeRouter
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "levelbot.settings")

# Set Django up before anything imports models: the websocket consumers do.
django_asgi_app = get_asgi_application()

from levelbot.routing import websocket_application  # noqa: E402

application = ProtocolTypeRouter({"http": django_asgi_app, "websocket": websocket_application})
