"""ASGI entry point: daphne serves Django over http; websockets join the router later."""

import os

from channels.routing import ProtocolTypeRouter
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "levelbot.settings")

# Set Django up before anything imports models: websocket consumers, when they come, will.
django_asgi_app = get_asgi_application()

application = ProtocolTypeRouter({"http": django_asgi_app})
