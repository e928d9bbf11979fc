"""Tools from MCP servers without a UI: a real stdio MCP server, a real run.

The MCP server is a small script written here with the official SDK (``MCPServer``, the
SDK's FastMCP) and run by the current Python as a child process over stdio. Turns go
through the real ``Session`` and ``ToolRunner`` against the local Assistants server with
the real openai SDK; the demo model calls a function when the message says
``/call NAME {json}`` and quotes what was submitted in its reply.
"""

from __future__ import annotations

import asyncio
import json
import sys
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from openai import AsyncOpenAI

from tests.support.mcp import TOOL_NAMES, server_config
from tui_assistant import events as ev
from tui_assistant.config import McpServerConfig, Secret, _settings_from_data
from tui_assistant.engines.assistants import AssistantsEngine
from tui_assistant.errors import ConfigError
from tui_assistant.session import Session
from tui_assistant.tools import HumanAnswer, HumanRequest, ToolRegistry, ToolRunner
from tui_assistant.tools.mcp import McpManager, McpNotice, api_name


@pytest.fixture
async def managers():
    """``start(configs, **options)``: a started ``McpManager``; all are closed afterwards."""
    made: list[McpManager] = []

    async def start(configs, **options: Any) -> tuple[McpManager, list[McpNotice]]:
        notices: list[McpNotice] = []
        manager = McpManager(configs, on_notice=notices.append, **options)
        made.append(manager)
        manager.start()
        await manager.wait_started(60)
        return manager, notices

    yield start
    for manager in made:
        await manager.aclose()


class Human:
    """Answers approval questions from a script and records them."""

    def __init__(self, *answers: HumanAnswer) -> None:
        self.answers = list(answers)
        self.requests: list[HumanRequest] = []

    async def __call__(self, request: HumanRequest) -> HumanAnswer:
        self.requests.append(request)
        return self.answers.pop(0)


async def turn(server: Any, manager: McpManager, text: str, ask=None) -> dict[str, Any]:
    """One user turn with ``manager``'s tools; what the user and the endpoint saw."""
    engine = AssistantsEngine(server.base_url, "test")
    client = AsyncOpenAI(base_url=server.base_url, api_key="test", max_retries=0)
    try:
        (demo,) = [a for a in await engine.list_assistants() if a.name == "Demo assistant"]
        thread_id = await engine.create_thread()
        runner = ToolRunner(manager.registry_over(ToolRegistry()), ask=ask, timeout=30)
        session = Session(
            engine, on_action=runner, run_tools=partial(manager.run_tools, engine),
            poll_interval=0.02,
        )
        events = [e async for e in session.send(thread_id, demo.id, text)]
        (started,) = [e for e in events if isinstance(e, ev.RunStarted)]
        run = await client.beta.threads.runs.retrieve(started.run_id, thread_id=thread_id)
        assistant = await client.beta.assistants.retrieve(demo.id)
    finally:
        await engine.aclose()
        await client.close()
    replies = [e.text for e in events if isinstance(e, ev.MessageCompleted)]
    return {
        "events": events,
        "results": runner.results,
        "reply": replies[-1] if replies else "",
        "run_tools": [t.function.name if t.type == "function" else t.type for t in run.tools],
        "assistant_tools": [t.type for t in assistant.tools],
        "status": events[-1].status if isinstance(events[-1], ev.RunCompleted) else "",
    }


def error_of(output: str) -> str:
    return json.loads(output)["error"]


# --------------------------------------------------------------------------- runs


async def test_tools_are_listed_and_called_through_a_run(local_server, script, managers):
    manager, notices = await managers([server_config(script, trusted=True)])
    server = manager.servers["demo"]
    assert server.status == "ready"
    assert sorted(t.name for t in server.tools) == TOOL_NAMES
    echo = manager.function("demo__echo")
    assert echo is not None and echo.description == "Echo the text back."
    assert echo.parameters["required"] == ["text"]
    assert notices == [McpNotice("demo", "ok", "MCP server 'demo' ready: 7 tool(s)")]

    seen = await turn(local_server, manager, '/call demo__echo {"text": "hello"}')

    assert seen["status"] == "completed"
    assert [(r.call.name, r.outcome, r.output) for r in seen["results"]] == [
        ("demo__echo", "ok", "echo: hello")
    ]
    assert "echo: hello" in seen["reply"]
    # The run got the assistant's own tools and the server's; the assistant is unchanged.
    assert seen["run_tools"][:2] == ["code_interpreter", "file_search"]
    assert sorted(seen["run_tools"][2:]) == [f"demo__{name}" for name in TOOL_NAMES]
    assert seen["assistant_tools"] == ["code_interpreter", "file_search"]


async def test_only_the_chosen_tools_are_offered(local_server, script, managers):
    manager, notices = await managers(
        [server_config(script, trusted=True, tools=("echo", "nope"))]
    )
    assert [f.name for f in manager.functions()] == ["demo__echo"]
    assert notices[-1] == McpNotice("demo", "warn", "MCP server 'demo' has no tool named nope")
    seen = await turn(local_server, manager, '/call demo__echo {"text": "x"}')
    assert seen["run_tools"] == ["code_interpreter", "file_search", "demo__echo"]


async def test_approval_is_asked_and_a_denial_is_submitted(
    local_server, script, managers, tmp_path
):
    log = tmp_path / "calls.log"
    manager, _ = await managers([server_config(script, env={"DEMO_LOG": Secret(str(log))})])
    human = Human(HumanAnswer.deny("not today"), HumanAnswer.approve())

    denied = await turn(local_server, manager, '/call demo__echo {"text": "one"}', ask=human)
    approved = await turn(local_server, manager, '/call demo__echo {"text": "two"}', ask=human)

    assert [(r.kind, r.call.name, r.description) for r in human.requests] == [
        ("approve", "demo__echo", "Echo the text back."),
        ("approve", "demo__echo", "Echo the text back."),
    ]
    (result,) = denied["results"]
    assert result.outcome == "denied"
    assert error_of(result.output) == "The user denied the call to demo__echo. Reason: not today"
    assert "not today" in denied["reply"]
    assert [r.outcome for r in approved["results"]] == ["ok"]
    assert "echo: two" in approved["reply"]
    # Only the approved call reached the server.
    assert log.read_text().splitlines() == ["echo two"]


async def test_a_tool_that_raises_is_submitted_as_an_error(local_server, script, managers):
    manager, _ = await managers([server_config(script, trusted=True)])
    seen = await turn(local_server, manager, "/call demo__boom {}")
    (result,) = seen["results"]
    assert result.outcome == "error"
    assert error_of(result.output).startswith("demo__boom failed: McpToolError: ")
    assert "boom" in error_of(result.output).removeprefix("demo__boom failed")
    assert seen["status"] == "completed"
    assert "error" in seen["reply"]


async def test_a_tool_that_hangs_past_its_limit_times_out(local_server, script, managers):
    manager, _ = await managers([server_config(script, trusted=True, timeout=1)])
    seen = await turn(local_server, manager, "/call demo__hang {}")
    (result,) = seen["results"]
    assert result.outcome == "timeout"
    assert error_of(result.output) == "demo__hang did not finish within 1 s and was abandoned."
    assert seen["status"] == "completed"
    # The server is still there for the next call.
    after = await turn(local_server, manager, '/call demo__echo {"text": "still here"}')
    assert [r.output for r in after["results"]] == ["echo: still here"]


async def test_images_are_saved_and_their_text_submitted(local_server, script, managers):
    from tui_assistant.files import image_path

    manager, _ = await managers([server_config(script, trusted=True)])
    seen = await turn(local_server, manager, "/call demo__picture {}")
    (result,) = seen["results"]
    assert result.outcome == "ok"
    assert result.output == "[image/png image returned by the tool, shown to the user]"
    (image,) = result.images
    assert image_path(image).read_bytes().startswith(b"\x89PNG")


async def test_environment_values_reach_the_server_only(local_server, script, managers,
                                                        monkeypatch):
    monkeypatch.setenv("MY_DEMO_TOKEN", "sk-mcp-SENTINEL-123")
    config = server_config(script, trusted=True, env_from={"DEMO_TOKEN": "MY_DEMO_TOKEN"})
    manager, notices = await managers([config])
    seen = await turn(local_server, manager, "/call demo__token_length {}")
    assert [r.output for r in seen["results"]] == [str(len("sk-mcp-SENTINEL-123"))]
    assert "SENTINEL" not in repr(config) + repr(manager.servers) + repr(notices)


# --------------------------------------------------------------------------- failures


async def test_a_server_that_exits_at_start_is_reported_once_and_others_go_on(
    local_server, script, managers
):
    manager, notices = await managers(
        [server_config(script, "broken", "exit"), server_config(script, trusted=True)]
    )
    broken = manager.servers["broken"]
    assert broken.status == "failed"
    assert broken.problem == "could not start: it exited or closed its connection"
    errors = [n for n in notices if n.level == "error"]
    assert errors == [
        McpNotice(
            "broken",
            "error",
            "MCP server 'broken' could not start: it exited or closed its connection\n"
            "stderr:\ndemo server: cannot open the database /nowhere/db",
        )
    ]
    seen = await turn(local_server, manager, '/call demo__echo {"text": "on"}')
    assert [r.output for r in seen["results"]] == ["echo: on"]
    assert not any(name.startswith("broken__") for name in seen["run_tools"])


async def test_a_missing_program_is_reported(managers, tmp_path):
    missing = McpServerConfig(name="gone", command=str(tmp_path / "no-such-program"))
    manager, notices = await managers([missing])
    assert manager.servers["gone"].status == "failed"
    ((notice),) = notices
    assert notice.level == "error" and "could not start: program not found" in notice.text


async def test_a_missing_environment_variable_is_reported(script, managers, monkeypatch):
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    config = server_config(script, env_from={"DEMO_TOKEN": "NOT_SET_ANYWHERE"})
    manager, notices = await managers([config])
    ((notice),) = notices
    assert notice.text == (
        "MCP server 'demo' could not start: MCP server 'demo': DEMO_TOKEN should come from "
        "$NOT_SET_ANYWHERE, which is not set"
    )


async def test_a_server_that_dies_is_reported_once_and_can_be_restarted(
    local_server, script, managers
):
    manager, notices = await managers([server_config(script, trusted=True)])
    seen = await turn(local_server, manager, "/call demo__die {}")
    (result,) = seen["results"]
    assert result.outcome == "error"
    assert "MCP server 'demo' stopped working" in error_of(result.output)
    assert manager.servers["demo"].status == "failed"
    errors = [n.text for n in notices if n.level == "error"]
    assert len(errors) == 1
    assert errors[0].startswith("MCP server 'demo' stopped working")
    assert "demo server: dying on request" in errors[0]
    # Its tools are no longer sent; a restart brings them back.
    gone = await turn(local_server, manager, '/call demo__echo {"text": "x"}')
    assert gone["run_tools"] == ["code_interpreter", "file_search"]
    await manager.restart("demo")
    back = await turn(local_server, manager, '/call demo__echo {"text": "back"}')
    assert [r.output for r in back["results"]] == ["echo: back"]


# --------------------------------------------------------------------------- names, config


def test_api_names_follow_the_function_name_rules():
    assert api_name("git", "log") == "git__log"
    assert api_name("fs", "read.file v2") == "fs__read_file_v2"
    long = api_name("server", "x" * 80)
    assert len(long) == 64 and long.startswith("server__xxx")
    assert api_name("git", "log", taken={"git__log"}) != "git__log"


def _config(data: dict) -> Any:
    return _settings_from_data(data, Path("/home/u/config.toml"), readable_by_others=False)


def test_mcp_config_is_read():
    settings = _config({"mcp": {"servers": {
        "git": {"command": "git-mcp", "args": ["--repo", "."], "trusted": True,
                "tools": ["log"], "timeout": 5, "env": {"LOG": "debug"},
                "env_command": {"TOKEN": "pass show git"}},
        "web": {"url": "https://mcp.example.com/mcp?key=abc"},
    }}})
    git, web = settings.mcp_servers
    assert (git.name, git.command, git.args, git.trusted, git.tools, git.timeout) == (
        "git", "git-mcp", ("--repo", "."), True, ("log",), 5.0
    )
    assert git.target == "git-mcp --repo ."
    assert web.target == "https://mcp.example.com/mcp"  # never the query, which may hold a key
    assert "pass show" not in repr(git)


@pytest.mark.parametrize(
    ("server", "problem"),
    [
        ({"args": ["x"]}, "needs either command (stdio) or url (HTTP)"),
        ({"command": "a", "url": "http://h/mcp"}, "needs either command (stdio) or url (HTTP)"),
        ({"url": "ftp://h/mcp"}, "url must be an http or https URL"),
        ({"command": "a", "trusted": "yes"}, "trusted must be true or false"),
        ({"command": "a", "tools": "log"}, "tools must be an array of tool names"),
        ({"command": "a", "timeout": 0}, "timeout must be more than 0"),
        ({"command": "a", "env_from": {"A": "not a name"}}, "env_from.A must name a variable"),
        ({"command": "a", "colour": "red"}, "unknown key 'mcp.servers.x.colour'"),
    ],
)
def test_bad_mcp_config_is_one_clear_line(server, problem):
    with pytest.raises(ConfigError) as caught:
        _config({"mcp": {"servers": {"x": server}}})
    assert problem in caught.value.message and "\n" not in caught.value.message


def test_a_secret_in_a_shared_config_file_is_refused():
    with pytest.raises(ConfigError, match="readable by others"):
        _settings_from_data(
            {"mcp": {"servers": {"x": {"command": "a", "env": {"API_TOKEN": "t"}}}}},
            Path("/home/u/config.toml"),
            readable_by_others=True,
        )


def test_server_names_must_be_plain():
    with pytest.raises(ConfigError, match="a server name is 1-24 letters"):
        _config({"mcp": {"servers": {"my.server": {"command": "a"}}}})


async def test_runs_get_at_most_twenty_tools(local_server, script, managers):
    # Three servers of seven tools each, with the assistant's two: 23 tools for a run that
    # may have 20. The run is still created, with what fits, and the user is told once.
    configs = [server_config(script, f"s{n}", trusted=True) for n in range(3)]
    manager, notices = await managers(configs)
    seen = await turn(local_server, manager, '/call s0__echo {"text": "fits"}')
    assert len(seen["run_tools"]) == 20
    assert seen["run_tools"][:2] == ["code_interpreter", "file_search"]
    assert [r.output for r in seen["results"]] == ["echo: fits"]
    warnings = [n.text for n in notices if n.level == "warn"]
    assert len(warnings) == 1
    assert warnings[0] == (
        "A run can have at most 20 tools: left out s2__die, s2__exit_soon, s2__picture "
        "(choose fewer with tools = [...] in [mcp.servers.NAME])"
    )
    await turn(local_server, manager, '/call s0__echo {"text": "again"}')
    assert len([n for n in notices if n.level == "warn"]) == 1  # told once


HTTP_SERVER_SCRIPT = '''
import sys
from mcp.server.mcpserver import MCPServer

app = MCPServer("web")


@app.tool()
def shout(text: str) -> str:
    """Upper-case the text."""
    return text.upper()


app.run("streamable-http", host="127.0.0.1", port=int(sys.argv[1]))
'''


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def http_server(tmp_path: Path):
    """A streamable-HTTP MCP server on loopback; its URL."""
    import socket
    import subprocess
    import time

    path = tmp_path / "web_mcp_server.py"
    path.write_text(HTTP_SERVER_SCRIPT, encoding="utf-8")
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(path), str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise AssertionError("the HTTP MCP server did not start") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        process.wait(10)


async def test_a_streamable_http_server(local_server, http_server, managers):
    manager, notices = await managers([McpServerConfig(name="web", url=http_server,
                                                       trusted=True)])
    assert notices == [McpNotice("web", "ok", "MCP server 'web' ready: 1 tool(s)")]
    seen = await turn(local_server, manager, '/call web__shout {"text": "quiet"}')
    assert [r.output for r in seen["results"]] == ["QUIET"]
    assert "QUIET" in seen["reply"]


async def test_an_unreachable_url_is_reported(managers):
    url = f"http://127.0.0.1:{free_port()}/mcp"
    manager, notices = await managers([McpServerConfig(name="web", url=url)])
    assert manager.servers["web"].status == "failed"
    ((notice),) = notices
    assert notice.level == "error"
    assert notice.text.startswith("MCP server 'web' could not start: ")
    assert "\n" not in notice.text  # no stderr for an HTTP server, no traceback


async def test_a_server_that_exits_while_idle_is_noticed(local_server, script, managers):
    manager, notices = await managers([server_config(script, trusted=True)],
                                      watch_interval=0.1)
    seen = await turn(local_server, manager, "/call demo__exit_soon {}")
    assert [r.output for r in seen["results"]] == ["bye"]
    server = manager.servers["demo"]
    await asyncio.wait_for(_until_failed(server), 60)
    errors = [n.text for n in notices if n.level == "error"]
    assert errors == [
        "MCP server 'demo' stopped working: it exited or closed its connection\n"
        "stderr:\ndemo server: starting\ndemo server: leaving"
    ]
    assert manager.functions() == []


async def _until_failed(server) -> None:
    while server.status != "failed":
        await asyncio.sleep(0.05)


async def test_a_live_server_stays_ready_between_checks(script, managers):
    manager, notices = await managers([server_config(script)], watch_interval=0.02)
    await asyncio.sleep(0.5)  # many liveness checks
    assert manager.servers["demo"].status == "ready"
    assert [n.level for n in notices] == ["ok"]


async def test_mcp_tools_through_the_responses_engine(rserver, script, managers):
    """The Responses engine gets the run's tools too, for every response of the run."""
    from tests.support.responses import API_KEY, Plan
    from tui_assistant.engines.base import AssistantSettings
    from tui_assistant.engines.responses import MemoryAssistants, ResponsesEngine

    assistant = AssistantSettings(id="asst_local_mcp", name="Tester", model="gpt-test-mini",
                                  tools=({"type": "code_interpreter"},))
    manager, _ = await managers([server_config(script, trusted=True, tools=("echo",))])
    engine = ResponsesEngine(rserver.base_url, API_KEY, assistants=MemoryAssistants([assistant]))
    try:
        rserver.plan(Plan([("call", "demo__echo", '{"text": "over responses"}')]))
        thread = await engine.create_thread()
        runner = ToolRunner(manager.registry_over(ToolRegistry()), timeout=30)
        session = Session(engine, on_action=runner,
                          run_tools=partial(manager.run_tools, engine))
        events = [e async for e in session.send(thread, assistant.id, "echo please")]
    finally:
        await engine.aclose()
    assert [(r.call.name, r.output) for r in runner.results] == [
        ("demo__echo", "echo: over responses")
    ]
    assert "".join(e.text for e in events if isinstance(e, ev.TextDelta)) == (
        "The function said: echo: over responses"
    )
    bodies = [body for _m, _p, _q, body in rserver.requests_to("POST", "/responses")]
    assert len(bodies) == 2
    for body in bodies:  # the first response and the one after the output
        assert [t["type"] for t in body["tools"]] == ["function", "code_interpreter"]
        assert body["tools"][0]["name"] == "demo__echo"
