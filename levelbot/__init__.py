"""levelbot: a trading bot for crypto perpetual futures that defends price levels."""

# Loaded with Django so that `shared_task` binds to this app (celery's documented layout).
from levelbot.celery import app as celery_app

__all__ = ("celery_app",)
