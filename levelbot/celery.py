"""The celery app, configured from the CELERY_* Django settings, and the periodic jobs' schedule.

Only celery's own processes (`celery -A levelbot worker|beat`) and code that hands work to a
worker import this module: the bot and the web server do not load celery otherwise.
"""

import os

from celery import Celery
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "levelbot.settings")

app = Celery("levelbot")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# The periodic jobs (trading/tasks.py). A check that waited longer than its own period for a
# worker is dropped (`expires`): the next one sees the same database.
app.conf.beat_schedule = {
    "dead-man-check": {
        "task": "trading.tasks.dead_man_check",
        "schedule": 30.0,
        "options": {"expires": 30},
    },
    "reconcile-positions": {
        "task": "trading.tasks.reconcile_positions",
        "schedule": 300.0,
        "options": {"expires": 300},
    },
    "daily-summary": {
        "task": "trading.tasks.daily_summary",
        "schedule": crontab(hour=0, minute=5),
    },
}
