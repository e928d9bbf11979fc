"""What a fresh interpreter loads."""

from __future__ import annotations

import json
import subprocess
import sys


def loaded_after_import(modules: list[str]) -> set[str]:
    """The top-level packages in ``sys.modules`` after importing ``modules`` afresh."""
    code = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout))
