"""Which top-level packages importing a module loads, asked of a fresh interpreter."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def loaded_by(module: str, packages: set[str]) -> list[str]:
    """Those of `packages` that `import module` loads in a new Python process."""
    code = (
        f"import json, sys, {module}; "
        f"top = {{m.split('.')[0] for m in sys.modules}}; "
        f"print(json.dumps(sorted(top & {set(packages)!r})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)
