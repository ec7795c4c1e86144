from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from django.conf import settings

from levelbot.env import SECRET_KEY_MISSING, database_config, env_bool, secret_key_from_file
from tests.postgres import running_postgres

BASE_DIR = Path(__file__).resolve().parent.parent
# Variables that would change what settings.py decides: each subprocess sets its own.
DEPLOYMENT_VARIABLES = {"SECRET_KEY", "DEBUG", "LEVELBOT_DEMO", "DATABASE_URL", "REDIS_URL"}
DEPLOYMENT_VARIABLES |= {"ALLOWED_HOSTS", "LEVELBOT_HTTPS", "DJANGO_SETTINGS_MODULE"}


def run_python(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    """Run python in a clean environment holding only `env` of the deployment variables."""
    environ = {
        k: v for k, v in os.environ.items() if k not in DEPLOYMENT_VARIABLES and "PYTEST" not in k
    }
    environ.update(env)
    return subprocess.run(
        [sys.executable, *args],
        cwd=BASE_DIR,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_python(["manage.py", *args], **env)


def settings_seen(names: list[str], **env: str) -> dict[str, object]:
    code = (
        "import json, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'levelbot.settings'); "
        "from django.conf import settings; "
        f"print(json.dumps({{n: getattr(settings, n, None) for n in {names!r}}}, default=str))"
    )
    result = run_python(["-c", code], **env)
    assert result.returncode == 0, result.stderr
    seen: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return seen


SQLITE_PROBE = """
import json, os, sqlite3
import django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "levelbot.settings")
django.setup()
from django.db import connection, transaction
cursor = connection.cursor()
seen = {
    "journal_mode": cursor.execute("PRAGMA journal_mode").fetchone()[0],
    "synchronous": cursor.execute("PRAGMA synchronous").fetchone()[0],
}
other = sqlite3.connect(connection.settings_dict["NAME"], timeout=0)
with transaction.atomic():
    connection.cursor().execute("SELECT 1")  # a read only, and yet the write lock is taken
    try:
        other.execute("BEGIN IMMEDIATE")
        seen["locked_inside"] = False
        other.rollback()
    except sqlite3.OperationalError as e:
        seen["locked_inside"] = "locked" in str(e)
other.execute("BEGIN IMMEDIATE")  # free again once the transaction ends
other.rollback()
print(json.dumps(seen))
"""


def test_sqlite_databases_run_in_wal_mode_and_lock_when_a_transaction_begins(
    tmp_path: Path,
) -> None:
    """Checked on a database of its own, whatever database the test run itself uses."""
    result = run_python(
        ["-c", SQLITE_PROBE], DATABASE_URL=f"sqlite:///{tmp_path / 'probe.sqlite3'}"
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen == {"journal_mode": "wal", "synchronous": 1, "locked_inside": True}


def test_a_sqlite_url_gets_the_same_options_and_a_postgres_url_is_left_as_it_is() -> None:
    from_url = database_config("sqlite:////var/lib/levelbot/db.sqlite3", Path("unused"))
    default = database_config(None, Path("/srv/db.sqlite3"))
    assert from_url["NAME"] == "/var/lib/levelbot/db.sqlite3"
    assert default["NAME"] == "/srv/db.sqlite3"
    assert from_url["OPTIONS"] == default["OPTIONS"]
    assert from_url["OPTIONS"]["init_command"] == (
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
    )
    postgres = database_config("postgres://bot:pw@127.0.0.1:5433/levelbot", Path("unused"))
    assert postgres["ENGINE"] == "django.db.backends.postgresql"
    assert (postgres["HOST"], postgres["PORT"], postgres["NAME"]) == ("127.0.0.1", 5433, "levelbot")
    assert "transaction_mode" not in postgres.get("OPTIONS", {})


def test_migrate_and_check_work_on_a_sqlite_database_url(tmp_path: Path) -> None:
    database = tmp_path / "levelbot.sqlite3"
    env = {"DATABASE_URL": f"sqlite:///{database}", "SECRET_KEY": "test-only-key"}
    migrate = manage("migrate", "--noinput", **env)
    assert migrate.returncode == 0, migrate.stderr
    check = manage("check", **env)
    assert check.returncode == 0, check.stderr
    with sqlite3.connect(database) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("SELECT count(*) FROM trading_level").fetchone()[0] == 0


# Run against the server: the JSON and decimal checks must hold on PostgreSQL too.
POSTGRES_PROBE = """
from decimal import Decimal
from django.db import IntegrityError, transaction
from trading import services
from trading.models import TierState
level = services.level_create(exchange="bybit", symbol="BTC/USDT:USDT",
                              level_price=Decimal("62750"), base_size=Decimal("0.01"), leverage=5)
TierState.objects.filter(level=level).update(fired_tiers=[1, 3])
try:
    with transaction.atomic():
        TierState.objects.filter(level=level).update(fired_tiers=[3, 1])
    print("accepted")
except IntegrityError:
    print("refused")
print(TierState.objects.filter(fired_tiers=[1, 3]).count())
"""


@pytest.mark.needs("postgresql")
def test_migrate_and_check_work_on_postgresql() -> None:
    with running_postgres() as url:
        env = {"DATABASE_URL": url, "SECRET_KEY": "test-only-key"}
        migrate = manage("migrate", "--noinput", **env)
        assert migrate.returncode == 0, migrate.stderr
        check = manage("check", "--database", "default", **env)
        assert check.returncode == 0, check.stderr
        probe = manage("shell", "-c", POSTGRES_PROBE, **env)
        assert probe.returncode == 0, probe.stderr
        assert probe.stdout.split()[-2:] == ["refused", "2"]
        with psycopg.connect(url) as db:
            tables = db.execute("SELECT count(*) FROM trading_level").fetchone()
            assert tables == (1,)


def test_debug_is_off_unless_asked_for() -> None:
    assert settings_seen(["DEBUG"], SECRET_KEY="k") == {"DEBUG": False}
    assert settings_seen(["DEBUG"], SECRET_KEY="k", DEBUG="0") == {"DEBUG": False}
    assert settings_seen(["DEBUG"], SECRET_KEY="k", DEBUG="true") == {"DEBUG": True}


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", True), ("true", True), ("TRUE", True), ("yes", True), ("0", False), ("", False)],
)
def test_env_bool_reads_only_clear_yes_words(value: str, expected: bool) -> None:
    assert env_bool("FLAG", {"FLAG": value}) is expected


def test_missing_secret_key_refuses_to_serve_over_https() -> None:
    result = manage("check", LEVELBOT_HTTPS="1")
    assert result.returncode != 0
    assert "Set the SECRET_KEY environment variable" in result.stderr
    assert SECRET_KEY_MISSING in result.stderr


def test_local_use_without_secret_key_uses_the_stored_key() -> None:
    seen = settings_seen(["SECRET_KEY"])
    stored = (BASE_DIR / "var" / "secret_key").read_text().strip()
    assert seen == {"SECRET_KEY": stored}
    assert len(stored) >= 50


def test_secret_key_file_is_generated_once_and_private(tmp_path: Path) -> None:
    path = tmp_path / "var" / "secret_key"
    first = secret_key_from_file(path)
    assert secret_key_from_file(path) == first
    assert len(first) >= 50
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["secret_key"]


def test_secure_cookies_follow_the_https_flag() -> None:
    names = ["SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_SSL_REDIRECT"]
    plain = settings_seen(names, SECRET_KEY="k")
    https = settings_seen(names, SECRET_KEY="k", LEVELBOT_HTTPS="1")
    assert plain == dict.fromkeys(names, False)
    assert https == dict.fromkeys(names, True)
    assert settings.X_FRAME_OPTIONS == "DENY"


def test_redis_url_switches_on_the_redis_channel_layer_and_celery_broker() -> None:
    names = ["CHANNEL_LAYERS", "CELERY_BROKER_URL"]
    without = settings_seen(names, SECRET_KEY="k")
    with_redis = settings_seen(names, SECRET_KEY="k", REDIS_URL="redis://127.0.0.1:6379/0")
    assert without["CELERY_BROKER_URL"] == "memory://"
    assert "InMemoryChannelLayer" in json.dumps(without["CHANNEL_LAYERS"])
    assert with_redis["CELERY_BROKER_URL"] == "redis://127.0.0.1:6379/0"
    assert "channels_redis" in json.dumps(with_redis["CHANNEL_LAYERS"])


def test_installed_apps_include_htmx_and_channels_but_not_daphne() -> None:
    apps = settings.INSTALLED_APPS
    assert "daphne" not in apps  # served from the command line; Twisted stays out of the bot
    for app in ("django_htmx", "template_partials", "channels", "trading", "dashboard"):
        assert app in apps
    assert "django_htmx.middleware.HtmxMiddleware" in settings.MIDDLEWARE
    assert "whitenoise.middleware.WhiteNoiseMiddleware" in settings.MIDDLEWARE
