"""The boundary through the server: the real openai SDK, the demo model's code trigger.

A fenced ```python block makes the demo model call the code interpreter (README, "Try every
tool offline"). The server runs as it would for a real model, with bubblewrap required.
"""

from __future__ import annotations

import os
import secrets
import socket
from pathlib import Path

import pytest

from tui_assistant.server.sandbox import bubblewrap_problem

_PROBLEM = bubblewrap_problem()
pytestmark = pytest.mark.skipif(
    _PROBLEM is not None, reason=f"bubblewrap cannot be used here: {_PROBLEM}"
)

PROBE = """\
import os, socket
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=3).close()
    print("network: connected")
except OSError as exc:
    print("network:", type(exc).__name__)
try:
    print("home:", open({sentinel!r}).read())
except OSError as exc:
    print("home:", type(exc).__name__)
print("env:", os.environ.get("TUI_ASSISTANT_SENTINEL_KEY"))
print("pids:", sorted(int(p) for p in os.listdir("/proc") if p.isdigit()))
import struct, zlib
def chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))
header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
with open("dot.png", "wb") as out:
    out.write(b"\\x89PNG\\r\\n\\x1a\\n" + chunk(b"IHDR", header)
              + chunk(b"IDAT", zlib.compress(b"\\x00\\x00")) + chunk(b"IEND", b""))
print("cwd:", os.getcwd(), sorted(os.listdir(".")))
"""


async def test_code_from_a_run_stays_inside_the_sandbox(
    start_server, make_client, monkeypatch, tmp_path: Path
):
    secret = secrets.token_hex(16)
    monkeypatch.setenv("TUI_ASSISTANT_SENTINEL_KEY", secret)
    sentinel = Path(os.path.expanduser("~")) / f".tui-assistant-sentinel-{secrets.token_hex(4)}"
    sentinel.write_text(secret)
    server = start_server(code_interpreter="bubblewrap", real_model=True)
    assert server.code_interpreter.mode == "bubblewrap"
    client = make_client(server)
    try:
        with socket.create_server(("127.0.0.1", 0)) as listener:
            listener.setblocking(False)
            code = PROBE.format(port=listener.getsockname()[1], sentinel=str(sentinel))
            upload = await client.files.create(
                file=("notes.txt", b"input file\n"), purpose="assistants"
            )
            assistant = await client.beta.assistants.create(
                model="demo", tools=[{"type": "code_interpreter"}]
            )
            thread = await client.beta.threads.create(
                messages=[
                    {
                        "role": "user",
                        "content": f"```python\n{code}```\n",
                        "attachments": [
                            {"file_id": upload.id, "tools": [{"type": "code_interpreter"}]}
                        ],
                    }
                ]
            )
            run = await client.beta.threads.runs.create_and_poll(
                thread_id=thread.id, assistant_id=assistant.id
            )
            with pytest.raises(BlockingIOError):
                listener.accept()
    finally:
        sentinel.unlink()
    assert run.status == "completed"
    steps = await client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc")
    (call,) = steps.data[0].step_details.tool_calls
    logs, image = call.code_interpreter.outputs
    assert secret not in logs.logs
    assert logs.logs.splitlines() == [
        "network: ConnectionRefusedError",
        "home: FileNotFoundError",
        "env: None",
        "pids: [1, 2]",
        "cwd: /mnt/data ['dot.png', 'notes.txt']",
    ]
    png = await client.files.content(image.image.file_id)
    assert png.content.startswith(b"\x89PNG\r\n\x1a\n")
