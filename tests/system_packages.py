"""Debian packages some tests need, and how to tell whether one is installed.

A test asks for one with `@pytest.mark.needs("postgresql")`; see the root conftest.py.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path


def postgres_bin_dir() -> Path | None:
    """The directory holding initdb and pg_ctl: on PATH, else Debian's versioned directory."""
    candidates = []
    if initdb := shutil.which("initdb"):
        candidates.append(Path(initdb).resolve().parent)
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for directory in candidates:
        if (directory / "initdb").is_file() and (directory / "pg_ctl").is_file():
            return directory
    return None


def _dpkg_installed(package: str) -> bool:
    if shutil.which("dpkg-query") is None:
        return False
    result = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True, check=False
    )
    return result.stdout.strip() == "install ok installed"


# What a test actually uses of a package; anything not listed is asked of dpkg.
PROBES: dict[str, Callable[[], bool]] = {
    "postgresql": lambda: postgres_bin_dir() is not None,
    "redis-server": lambda: shutil.which("redis-server") is not None,
    "chromium": lambda: shutil.which("chromium") is not None,
    "chromium-driver": lambda: shutil.which("chromedriver") is not None,
}


def is_installed(package: str) -> bool:
    probe = PROBES.get(package)
    return probe() if probe is not None else _dpkg_installed(package)


def missing_message(package: str) -> str:
    return f"needs Debian package {package} (apt-get install {package})"
