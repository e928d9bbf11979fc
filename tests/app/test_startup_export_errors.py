"""``tui-assistant export`` with an id nobody knows (issue 12, "Also").

It used to answer ``Thread … was not found on http://127.0.0.1:41839/v1``: the port of a
server started for this command alone, which tells the user nothing.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys


def test_export_of_an_unknown_thread_is_one_clear_line():
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_BASE_URL",)}
    result = subprocess.run(
        [sys.executable, "-m", "tui_assistant", "export", "thread_nobody_knows"],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("tui-assistant: error: ")
    assert "thread_nobody_knows" in line and "built-in local server" in line
    assert "tui-assistant threads" in line
    assert not re.search(r"127\.0\.0\.1|localhost|:\d{2,5}\b", line), line
