"""runbot as a real process on its own SQLite database, with helpers to set it up and read it."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class BotDatabase:
    """A migrated SQLite database of its own, and the environment that points runbot at it."""

    path: Path

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "LEVELBOT_DEMO"}}
        env["DATABASE_URL"] = f"sqlite:///{self.path}"
        env["LEVELBOT_JOURNAL_DIR"] = str(self.path.with_name("journal"))  # beside its database
        env["LOG_LEVEL"] = "INFO"
        return env

    def manage(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def runbot(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "manage.py", "runbot", *args],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def setup(self, scenario: dict[str, object]) -> dict[str, int]:
        """Tiers, levels and sentiment settings of a scenario; returns {scenario id: pk}."""
        path = self.path.with_name("scenario.json")
        path.write_text(json.dumps(scenario))
        result = self.manage("import_scenario", str(path), "--sentiment", "--json")
        assert result.returncode == 0, result.stderr
        ids: dict[str, int] = json.loads(result.stdout.strip().splitlines()[-1])
        return ids

    def rows(self, sql: str, *params: object) -> list[sqlite3.Row]:
        with sqlite3.connect(self.path, timeout=20) as db:
            db.row_factory = sqlite3.Row
            return list(db.execute(sql, params))


@pytest.fixture
def bot_db(tmp_path: Path) -> BotDatabase:
    database = BotDatabase(tmp_path / "bot.sqlite3")
    migrated = database.manage("migrate", "--noinput")
    assert migrated.returncode == 0, migrated.stderr
    return database


def log_events(stdout: str) -> list[dict[str, object]]:
    """runbot's JSON log lines (stdout is not a terminal under test)."""
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
