"""The dashboard's websocket routes (levelbot/routing.py serves them behind its checks)."""

from django.urls import path

from dashboard.consumers import LiveConsumer

websocket_urlpatterns = [path("ws/live", LiveConsumer.as_asgi())]
