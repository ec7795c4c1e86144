"""WSGI entry point, for servers without ASGI (no websockets there)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "levelbot.settings")

application = get_wsgi_application()
