"""The engine stays plain Python: no Django, ccxt, asyncio, channels or celery, ever."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import trading.engine

FORBIDDEN = {"django", "ccxt", "asyncio", "channels", "celery", "redis"}
ENGINE_DIR = Path(trading.engine.__file__).parent


def test_engine_source_imports_no_framework():
    offenders = []
    for path in ENGINE_DIR.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert offenders == []


def test_importing_the_engine_loads_no_framework():
    code = (
        "import sys, trading.engine; "
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {sorted(FORBIDDEN)!r}))"
    )
    root = ENGINE_DIR.parents[1]
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
