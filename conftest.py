"""Shared test set-up: system packages tests may need, and Django test settings.

`@pytest.mark.needs("postgresql")` marks a test that needs a Debian package. Outside CI a missing
package skips the test with the command that installs it; with CI=true it fails the test, since
CI (`.ci/run`) installs every package the tests need and a skip there would hide a gap.
"""

from __future__ import annotations

import os
import re
from typing import Any

import pytest
from django.conf import LazySettings

from tests.system_packages import is_installed, missing_message

NEEDS_PATTERN = re.compile(r"needs Debian package (\S+)")


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def pytest_runtest_setup(item: pytest.Item) -> None:
    for marker in item.iter_markers("needs"):
        for package in marker.args:
            if is_installed(package):
                continue
            message = missing_message(package)
            if in_ci():
                pytest.fail(f"{message}: CI must install it (.ci/run does).", pytrace=False)
            pytest.skip(message)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    missing = set()
    for report in terminalreporter.stats.get("skipped", []):
        longrepr = getattr(report, "longrepr", None)
        if isinstance(longrepr, tuple) and (match := NEEDS_PATTERN.search(str(longrepr[2]))):
            missing.add(match.group(1))
    if missing:
        packages = " ".join(sorted(missing))
        terminalreporter.section("missing system packages")
        terminalreporter.write_line(
            f"Tests were skipped for want of: {packages}. "
            f"Install with: apt-get install {packages} (.ci/run installs them)."
        )


@pytest.fixture(autouse=True)
def _static_files_without_collectstatic(settings: LazySettings) -> None:
    """Pages render without `collectstatic`: the manifest storage is for deployments."""
    settings.WHITENOISE_AUTOREFRESH = True  # find files where they are, not in STATIC_ROOT
    settings.WHITENOISE_USE_FINDERS = True
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: LazySettings) -> None:
    """Logins in tests need no protection against brute force, and the default hasher is slow."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    """Each test starts with an empty cache: failed logins counted by one test (the login
    brake, dashboard/login.py) never hold back another's."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def _journal_per_test(settings: LazySettings, tmp_path: Any) -> None:
    """Each test's bots keep their order journals apart from every other test's."""
    settings.JOURNAL_DIR = tmp_path / "journal"
