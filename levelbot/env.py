"""Reading deployment settings from the environment.

Kept apart from `settings.py` so that the parsing rules can be tested without reloading settings.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dj_database_url

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})

# SQLite as a trading database: WAL lets the web process read while the bot writes, IMMEDIATE
# takes the write lock when a transaction begins (no "database is locked" half-way through one),
# and the timeout lets a writer wait for the other process instead of failing at once.
SQLITE_OPTIONS: Mapping[str, Any] = {
    "transaction_mode": "IMMEDIATE",
    "timeout": 20,
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
}

SECRET_KEY_MISSING = (
    "SECRET_KEY is not set, and LEVELBOT_HTTPS=1 says this site is served to the world. Set the "
    "SECRET_KEY environment variable to a long random string (for example the output of: "
    "python3 -c 'import secrets; print(secrets.token_urlsafe(50))')."
)


def env_bool(name: str, environ: Mapping[str, str] = os.environ) -> bool:
    """True when the variable is 1, true, yes or on (any case); false otherwise or unset."""
    return environ.get(name, "").strip().lower() in TRUE_WORDS


def env_list(name: str, default: str, environ: Mapping[str, str] = os.environ) -> list[str]:
    """A comma-separated variable as a list, blanks dropped."""
    return [item.strip() for item in environ.get(name, default).split(",") if item.strip()]


def database_config(url: str | None, default_sqlite: Path) -> dict[str, Any]:
    """The `default` database from a URL, or SQLite at `default_sqlite` when there is none.

    Every SQLite database gets `SQLITE_OPTIONS`, whether it is the default or given by URL; any
    other URL (postgres://...) is used as dj-database-url reads it.
    """
    config: dict[str, Any] = dict(
        dj_database_url.parse(url) if url else dj_database_url.parse(f"sqlite:///{default_sqlite}")
    )
    if config["ENGINE"] == "django.db.backends.sqlite3":
        config["OPTIONS"] = {**config.get("OPTIONS", {}), **SQLITE_OPTIONS}
    return config


def secret_key_from_file(path: Path) -> str:
    """The key stored at `path`, generated and stored there on first use.

    The file is written under another name and linked into place, so that two processes
    starting together (test workers, web and bot) end up with the same key.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(50))
        try:
            os.link(draft, path)
        except FileExistsError:
            pass  # another process stored its key first; use that one
        finally:
            draft.unlink()
    return path.read_text().strip()
