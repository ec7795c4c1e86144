"""Django settings for levelbot.

Deployment settings come from the environment only (see README.md): DATABASE_URL, SECRET_KEY,
DEBUG, ALLOWED_HOSTS, CSRF_TRUSTED_ORIGINS, REDIS_URL, LEVELBOT_DEMO, LEVELBOT_HTTPS, LOG_LEVEL,
LEVELBOT_JOURNAL_DIR.
Settings a trader tunes while the bot runs live in the BotSettings row instead.
"""

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from levelbot.env import (
    SECRET_KEY_MISSING,
    database_config,
    env_bool,
    env_list,
    secret_key_from_file,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"
# Each traded symbol's order journal (trading/runtime/journal.py), on the bot's own machine.
JOURNAL_DIR = Path(os.environ.get("LEVELBOT_JOURNAL_DIR") or VAR_DIR / "journal")

DEBUG = env_bool("DEBUG")
DEMO = env_bool("LEVELBOT_DEMO")

HTTPS = env_bool("LEVELBOT_HTTPS")

# A site served to the world (LEVELBOT_HTTPS) must be given its key; on a trader's own machine
# (the bot, a backtest, the local dashboard) a key generated once into var/ is as good.
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if HTTPS:
        raise ImproperlyConfigured(SECRET_KEY_MISSING)
    SECRET_KEY = secret_key_from_file(VAR_DIR / "secret_key")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

# daphne serves the site from the command line (Procfile); it is not an app here, which keeps
# Twisted out of every other process (the bot's memory budget is 100 MB).
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "channels",
    "trading",
    "dashboard",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "dashboard.middleware.ContentSecurityPolicyMiddleware",
]

ROOT_URLCONF = "levelbot.urls"
WSGI_APPLICATION = "levelbot.wsgi.application"
ASGI_APPLICATION = "levelbot.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,  # template_partials swaps this for its own loader chain at start-up
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": database_config(os.environ.get("DATABASE_URL"), BASE_DIR / "db.sqlite3")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Tests run on a file, not in memory, so that they see WAL and IMMEDIATE as production does.
    # LEVELBOT_TEST_DB names another file, so that two test runs on one checkout can coexist.
    test_db = os.environ.get("LEVELBOT_TEST_DB", "test_db")
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"{test_db}.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# Live push to the dashboard goes through Redis when there is one; in memory otherwise, which
# reaches only the web process itself (the dashboard then relies on polling).
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # redis-py reads time out after 5 s by default, exactly as long as channels_redis
            # waits for a consumer's next message: a quiet page's socket would drop every 5 s.
            "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": 10}]},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# Without Redis there is no broker shared between processes: `memory://` keeps the celery app
# importable and a `celery worker` harmless, but tasks sent from another process never reach it.
# Task-always-eager is deliberately not used: it would run background work inline, and the bot
# must never do that on its tick path. The embedded default runs such work in-process instead.
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ALWAYS_EAGER = False
CELERY_TASK_IGNORE_RESULT = True  # no result backend: nothing waits for a task's return value
# Every task is bounded; each sets tighter limits of its own (trading/tasks.py).
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_TASK_TIME_LIMIT = 300
# The periodic jobs' schedule is in levelbot/celery.py: only celery's processes load celery.

# Notifications (trading/notify): destinations from the environment only; none set, none sent.
LEVELBOT_TELEGRAM_BOT_TOKEN = os.environ.get("LEVELBOT_TELEGRAM_BOT_TOKEN", "")
LEVELBOT_TELEGRAM_CHAT_ID = os.environ.get("LEVELBOT_TELEGRAM_CHAT_ID", "")
LEVELBOT_TELEGRAM_API_URL = os.environ.get("LEVELBOT_TELEGRAM_API_URL", "https://api.telegram.org")
LEVELBOT_WEBHOOK_URL = os.environ.get("LEVELBOT_WEBHOOK_URL", "")
LEVELBOT_NOTIFY_KINDS = env_list("LEVELBOT_NOTIFY_KINDS", "")  # empty: every kind
LEVELBOT_NOTIFY_QUEUE_SIZE = 1000
LEVELBOT_NOTIFY_TIMEOUT_S = 5.0  # one HTTP request
LEVELBOT_NOTIFY_ATTEMPTS = 4  # direct delivery: tries per destination, waiting 1, 2, 4 s between
LEVELBOT_NOTIFY_BACKOFF_S = 1.0

# Security. Cookies are marked secure only when the site is served over HTTPS, which a proxy in
# front of daphne terminates (daphne itself listens on 127.0.0.1).
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
if HTTPS:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = not DEBUG
    # Trusted because the only way in is the TLS proxy; it must set this header itself.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = 60 * 60 * 24 * 30
    # HSTS covers the names under the host that sends it: at levels.example.com that is
    # *.levels.example.com; at a bare domain, every subdomain, which a trading site's domain
    # should serve over HTTPS anyway.
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    # Preloading puts the domain into the browsers' own lists, which takes months to undo; that
    # is the domain owner's decision to make at hstspreload.org, not a default of the software.
    SILENCED_SYSTEM_CHECKS = ["security.W021"]

# Error reports (the debug page, mails to ADMINS) also hide the notification webhook and
# passwords inside URLs, not only settings named like KEY, SECRET, TOKEN or PASS.
DEFAULT_EXCEPTION_REPORTER_FILTER = "dashboard.middleware.SecretsFilter"

# The login limit (dashboard/login.py) counts failures here. Kept in memory per process, which
# suits the single daphne process that serves the site; and a login never waits on Redis.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "levelbot",
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO").upper()},
}
