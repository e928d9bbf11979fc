"""Gateway benchmark: one reply streamed straight from a Chat Completions upstream and
through ``tui-assistant serve --model-url``, side by side, in one run.

    python bench/gateway.py [--runs N] [--tokens N] [--rate TOKENS_PER_SECOND]

A scripted upstream on 127.0.0.1 (a thread of this process) streams a reply of
``--tokens`` content chunks (one word each) at ``--rate`` chunks per second (default
1,000), each chunk sent on a fixed schedule from the request's arrival. Then, alternating
``--runs`` times:

  (a) direct   the openai SDK reads ``chat.completions.create(stream=True)`` from it;
  (b) gateway  the openai SDK starts a run on ``serve --model-url`` (a child process) with
               ``runs.create(stream=True)`` and reads its events.

Columns (medians over the runs):
  ttft ms     request sent -> first content token read by the client
  tok/s       tokens per second, request sent -> last token read
  cpu s/1k    CPU seconds of the server process per 1,000 tokens (gateway only)
  upstream ms request sent -> the request reached the upstream (where the time to first
              token goes: before the upstream is asked, or relaying its first chunk)

Targets (issue 10): gateway TTFT p50 at most 5 ms above direct; gateway throughput at
least 95 % of direct at 1,000 tokens/s.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
warnings.filterwarnings("ignore", category=DeprecationWarning)


def _chunk(delta: dict, finish: str | None = None) -> bytes:
    body = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "bench",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(body).encode() + b"\n\n"


class Upstream:
    def __init__(self, tokens: int, rate: float) -> None:
        words = [f"word{n % 97} " for n in range(tokens)]
        self.frames = [_chunk({"role": "assistant", "content": ""})]
        self.frames += [_chunk({"content": w}) for w in words]
        usage = {"prompt_tokens": 10, "completion_tokens": tokens, "total_tokens": tokens + 10}
        tail = json.dumps(
            {
                "id": "chatcmpl-bench",
                "object": "chat.completion.chunk",
                "created": 1700000000,
                "model": "bench",
                "choices": [],
                "usage": usage,
            }
        )
        self.end = _chunk({}, "stop") + f"data: {tail}\n\n".encode() + b"data: [DONE]\n\n"
        self.interval = 1.0 / rate
        self.arrivals: list[float] = []
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                data = json.dumps({"object": "list", "data": [{"id": "bench"}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                start = time.perf_counter()
                upstream.arrivals.append(start)
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                for number, frame in enumerate(upstream.frames):
                    due = start + number * upstream.interval
                    wait = due - time.perf_counter()
                    if wait > 0:
                        time.sleep(wait)
                    self.wfile.write(frame)
                    self.wfile.flush()
                self.wfile.write(upstream.end)
                self.wfile.flush()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def direct(client, tokens: int, upstream: Upstream) -> tuple[float, float, float]:
    sent = time.perf_counter()
    first = None
    count = 0
    stream = client.chat.completions.create(
        model="bench", messages=[{"role": "user", "content": "go"}], stream=True
    )
    for event in stream:
        if event.choices and event.choices[0].delta.content:
            if first is None:
                first = time.perf_counter()
            count += 1
    last = time.perf_counter()
    assert count == tokens, count
    reached = (upstream.arrivals[-1] - sent) * 1000
    return (first - sent) * 1000, count / (last - sent), reached


def gateway(
    client, assistant_id: str, tokens: int, upstream: Upstream
) -> tuple[float, float, float]:
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "go"}])
    sent = time.perf_counter()
    first = None
    count = 0
    stream = client.beta.threads.runs.create(
        thread_id=thread.id, assistant_id=assistant_id, stream=True
    )
    for event in stream:
        if event.event == "thread.message.delta":
            if first is None:
                first = time.perf_counter()
            count += 1
        elif event.event in ("thread.run.completed", "thread.run.failed"):
            assert event.event == "thread.run.completed", event.data.last_error
    last = time.perf_counter()
    assert count == tokens, count
    reached = (upstream.arrivals[-1] - sent) * 1000
    return (first - sent) * 1000, count / (last - sent), reached


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=1000.0)
    args = parser.parse_args()

    import openai

    upstream = Upstream(args.tokens, args.rate)
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "TUI_ASSISTANT_HOME": tmp}
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tui_assistant",
                "serve",
                "--port",
                "0",
                "--db",
                str(Path(tmp) / "bench.db"),
                "--model-url",
                upstream.url,
                "--model",
                "bench",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        try:
            base_url = None
            for line in proc.stdout:
                found = re.search(r"at (http://\S+/v1)$", line.strip())
                if found and line.startswith("Serving"):
                    base_url = found.group(1)
                    break
            assert base_url, "the server did not start"
            to_upstream = openai.OpenAI(base_url=upstream.url, api_key="x", max_retries=0)
            to_gateway = openai.OpenAI(base_url=base_url, api_key="x", max_retries=0)
            assistant = to_gateway.beta.assistants.create(model="bench")
            # warm both paths once
            direct(to_upstream, args.tokens, upstream)
            gateway(to_gateway, assistant.id, args.tokens, upstream)
            rows: dict[str, list[tuple[float, float, float]]] = {"direct": [], "gateway": []}
            cpu: list[float] = []
            for _ in range(args.runs):
                rows["direct"].append(direct(to_upstream, args.tokens, upstream))
                before = cpu_seconds(proc.pid)
                rows["gateway"].append(gateway(to_gateway, assistant.id, args.tokens, upstream))
                cpu.append((cpu_seconds(proc.pid) - before) / (args.tokens / 1000))
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(10)
    print(
        f"{args.tokens} tokens at {args.rate:g} tokens/s from the upstream, "
        f"medians of {args.runs} runs"
    )
    print(f"{'':10}{'ttft ms':>10}{'tok/s':>10}{'cpu s/1k':>10}{'upstream ms':>13}")
    medians = {}
    for name, values in rows.items():
        ttft = statistics.median(v[0] for v in values)
        rate = statistics.median(v[1] for v in values)
        medians[name] = (ttft, rate)
        extra = f"{statistics.median(cpu):10.3f}" if name == "gateway" else f"{'-':>10}"
        reached = statistics.median(v[2] for v in values)
        print(f"{name:10}{ttft:10.1f}{rate:10.0f}{extra}{reached:13.1f}")
    added = medians["gateway"][0] - medians["direct"][0]
    kept = medians["gateway"][1] / medians["direct"][1] * 100
    print(f"gateway adds {added:.1f} ms to time to first token (target <= 5)")
    print(f"gateway keeps {kept:.1f} % of the direct throughput (target >= 95)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
