"""The bot's memory, read from /proc when the bot runs on this host.

The web process's own `resource.getrusage` says nothing about the bot: the two are separate
processes, and may be on separate machines. Only a running bot on the same host, under the pid
its session recorded, and whose command line is runbot's, is read; anything else is unknown.
"""

from __future__ import annotations

import socket
from pathlib import Path

from trading.selectors import BotStatus

PROC = Path("/proc")
COMMAND = b"runbot"


def bot_memory_bytes(bot: BotStatus) -> int | None:
    """The running bot's resident memory (VmRSS) in bytes, or None where it cannot be read."""
    session = bot.session
    if session is None or not bot.alive or not session.pid:
        return None
    if session.hostname != socket.gethostname():
        return None
    process = PROC / str(session.pid)
    try:
        # A pid reused by another process after the bot died must not be taken for the bot.
        if COMMAND not in (process / "cmdline").read_bytes():
            return None
        status = (process / "status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        name, _, value = line.partition(":")
        if name == "VmRSS":
            amount, _, unit = value.strip().partition(" ")
            if amount.isdigit() and unit.strip().lower() == "kb":
                return int(amount) * 1024
    return None
