"""levelbot: a trading bot for crypto perpetual futures that defends price levels.

The celery app lives in `levelbot.celery`; `celery -A levelbot` finds it there. It is not
imported here, so that the bot and the web server do not carry celery in memory.
"""
