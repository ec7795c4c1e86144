"""A throwaway PostgreSQL server on 127.0.0.1 for tests that need the real thing."""

from __future__ import annotations

import os
import pwd
import secrets
import shlex
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from tests.system_packages import postgres_bin_dir

DATABASE = "levelbot"
ROLE = "levelbot"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _server_user() -> str | None:
    """PostgreSQL refuses to run as root: as root, run it as `postgres` (or `nobody`)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    raise RuntimeError("Running as root with no postgres or nobody user to run PostgreSQL as.")


def _run(user: str | None, command: list[str], cwd: Path) -> None:
    if user is not None:
        if shutil.which("runuser"):
            command = ["runuser", "-u", user, "--", *command]
        else:
            command = ["su", user, "-s", "/bin/sh", "-c", shlex.join(command)]
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{shlex.join(command)} failed:\n{result.stdout}\n{result.stderr}")


@contextmanager
def running_postgres() -> Iterator[str]:
    """Start a fresh server in a temporary directory; yield its URL; stop it and delete it."""
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL's initdb and pg_ctl were not found.")
    user = _server_user()
    workdir = Path(tempfile.mkdtemp(prefix="levelbot-pg-"))
    data = workdir / "data"
    password = secrets.token_hex(16)
    pwfile = workdir / "password"
    pwfile.write_text(password)
    if user is not None:
        entry = pwd.getpwnam(user)
        for path in (workdir, pwfile):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    port = free_port()
    try:
        _run(
            user,
            [
                str(bin_dir / "initdb"),
                f"--pgdata={data}",
                f"--username={ROLE}",
                f"--pwfile={pwfile}",
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
            cwd=workdir,
        )
        server_options = f"-k {workdir} -h 127.0.0.1 -p {port} -F"
        pg_ctl = str(bin_dir / "pg_ctl")
        _run(
            user,
            [
                pg_ctl,
                "start",
                "-D",
                str(data),
                "-w",
                "-l",
                str(workdir / "log"),
                "-o",
                server_options,
            ],
            cwd=workdir,
        )
        try:
            server = f"postgres://{ROLE}:{password}@127.0.0.1:{port}"
            with psycopg.connect(f"{server}/postgres", autocommit=True) as connection:
                connection.execute(f"CREATE DATABASE {DATABASE}")
            yield f"{server}/{DATABASE}"
        finally:
            _run(user, [pg_ctl, "stop", "-D", str(data), "-m", "fast", "-w"], cwd=workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
