"""The built-in local server as a child process of the app.

    python -m tui_assistant.server.child DB_PATH TOKEN_DELAY [CODE_INTERPRETER]

The app starts this before it imports its UI, so the server's imports and start-up run
on another CPU while the first frame is drawn. It serves on a free loopback port, prints
``ready <base_url>`` on stdout once it accepts connections (``failed <reason>`` if it
cannot), and stops when its stdin closes: when the app stops it, or when the app is gone.
Nothing is printed to the terminal the app draws on.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    # Ctrl+C in the terminal belongs to the app; the child ends when its stdin closes.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        db_path, delay = Path(argv[0]), float(argv[1])
        code_interpreter = argv[2] if len(argv) > 2 else "auto"
        from tui_assistant.server.runtime import start_local_server

        server = start_local_server(db_path, token_delay=delay, demo_assistant=True,
                                    code_interpreter=code_interpreter)
    except Exception as exc:  # noqa: BLE001 - reported to the app as one line
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())
        sys.stdout.write(f"failed {reason}\n")
        sys.stdout.flush()
        return 1
    try:
        sys.stdout.write(f"ready {server.base_url}\n")
        sys.stdout.flush()
        while sys.stdin.buffer.read(4096):
            pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
