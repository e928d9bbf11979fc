"""Local function tools without a UI: registry, built-ins, plugins, and the runner.

The runner is driven by the real ``Session`` against the local server over loopback with
the real openai SDK; the server's model asks for function calls (``requires_action``),
and what the runner submits is read back from the model's context on the server.
"""

from __future__ import annotations

import asyncio
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.tools import CallingModel
from tui_assistant import events as ev
from tui_assistant.engines.assistants import AssistantsEngine
from tui_assistant.session import Session
from tui_assistant.tools import (
    HumanAnswer,
    HumanRequest,
    LocalFunction,
    ToolRegistry,
    ToolRunner,
    build_registry,
    function_tool,
    validate_arguments,
)
from tui_assistant.tools.builtins import builtin_functions, calculate, current_time, read_text_file
from tui_assistant.tools.plugins import functions_in, load_entry_points, load_module

# --------------------------------------------------------------------------- registry


def test_function_tool_infers_the_schema_and_stays_callable():
    @function_tool(needs_approval=True, timeout=5)
    def forecast(city: str, days: int = 3, units: str | None = None, tags: list[str] = ()) -> str:
        """Weather forecast for a city.

        More words that are not part of the description."""
        return f"{city}:{days}"

    tool = functions_in(forecast, "test")[0]
    assert forecast("Oslo") == "Oslo:3"
    assert tool.name == "forecast" and tool.needs_approval and tool.timeout == 5
    assert tool.description == "Weather forecast for a city."
    assert tool.parameters == {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "days": {"type": "integer"},
            "units": {"type": "string"},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["city"],
    }
    assert tool.definition() == {
        "type": "function",
        "function": {
            "name": "forecast",
            "description": "Weather forecast for a city.",
            "parameters": tool.parameters,
        },
    }


@pytest.mark.parametrize("name", ["", "has space", "x" * 65, "dots.not.allowed"])
def test_bad_function_names_are_refused(name: str):
    with pytest.raises(ValueError, match="invalid function name"):
        LocalFunction(name, "", {"type": "object"}, func=lambda: None)


def test_registry_definitions_and_approvals():
    registry = ToolRegistry(builtin_functions())
    assert registry.names == ["calculate", "current_time"]
    registry.require_approval(["calculate", "not_there"])
    assert registry.get("calculate").needs_approval
    assert not registry.get("current_time").needs_approval
    assert [d["function"]["name"] for d in registry.definitions(["current_time", "nope"])] == [
        "current_time"
    ]


def test_validate_arguments():
    schema = {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "days": {"type": "integer"},
            "unit": {"enum": ["c", "f"]},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["city"],
        "additionalProperties": False,
    }
    assert validate_arguments(schema, {"city": "Oslo", "days": 2, "tags": ["a"]}) == []
    assert validate_arguments(schema, {"days": "two", "unit": "k", "tags": [1], "x": 1}) == [
        "city is required",
        "days must be integer",
        "unit must be one of 'c', 'f'",
        "tags[0] must be string",
        "x is not an accepted argument",
    ]
    assert validate_arguments(schema, {"city": "Oslo", "days": True}) == ["days must be integer"]


# --------------------------------------------------------------------------- built-ins


@pytest.mark.parametrize(
    ("expression", "result"),
    [
        ("(2+3)*4**2", 80),
        ("7 / 2", 3.5),
        ("2^10", 1024),
        ("-(3 - 5) % 3", 2),
        ("sqrt(16) + abs(-2) + round(2.6)", 9),
        ("max(1, 5, 3) // 2", 2),
        ("2 ** 0.5 * 2 ** 0.5", 2.0000000000000004),
    ],
)
def test_calculate(expression: str, result: Any):
    assert calculate(expression) == {"expression": expression, "result": result}


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("__import__('os').system('true')", "Unsupported syntax"),
        ("__import__('os')", "Unknown function"),
        ("(1).__class__", "Unsupported syntax"),
        ("x + 1", "Unknown name"),
        ("'a' * 3", "Only numbers"),
        ("9 ** 9 ** 9", "too large"),
        ("2 ** 100000", "too large"),
        ("1 / 0", "Division by zero"),
        ("10.0 ** 400", "Cannot compute"),
        ("1 +", "Not an arithmetic expression"),
        ("", "empty"),
        ("1+" * 300 + "1", "longer than"),
    ],
)
def test_calculate_refuses(expression: str, problem: str):
    with pytest.raises(ValueError, match=problem):
        calculate(expression)


def test_current_time():
    paris = current_time("Europe/Paris")
    assert paris["timezone"] == "Europe/Paris" and paris["utc_offset"] in ("+0100", "+0200")
    assert current_time()["utc_offset"] == "+0000"
    with pytest.raises(ValueError, match="Unknown time zone"):
        current_time("Mars/Olympus_Mons")


def test_read_text_file_stays_inside_the_allowed_directory(tmp_path: Path):
    root = tmp_path / "allowed"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "notes.md").write_text("hello ✓", encoding="utf-8")
    (tmp_path / "secret.txt").write_text("nope")
    (root / "escape").symlink_to(tmp_path / "secret.txt")
    (root / "blob.bin").write_bytes(b"\x00\x01")
    (root / "big.txt").write_text("x" * (300 * 1024))

    assert read_text_file("sub/notes.md", root=str(root)) == {
        "path": "sub/notes.md",
        "content": "hello ✓",
        "truncated": False,
    }
    assert read_text_file(str(root / "sub/notes.md"), root=str(root))["path"] == "sub/notes.md"
    outside_paths = ("../secret.txt", str(tmp_path / "secret.txt"), "escape", "sub/../../x")
    for outside in outside_paths:
        with pytest.raises(PermissionError, match="outside the allowed directory"):
            read_text_file(outside, root=str(root))
    with pytest.raises(FileNotFoundError):
        read_text_file("missing.txt", root=str(root))
    with pytest.raises(ValueError, match="not a text file"):
        read_text_file("blob.bin", root=str(root))
    with pytest.raises(ValueError, match="not a file"):
        read_text_file("sub", root=str(root))
    big = read_text_file("big.txt", root=str(root))
    assert big["truncated"] and len(big["content"]) == 256 * 1024


def test_read_text_file_is_offered_only_with_an_allowed_directory(tmp_path: Path):
    assert "read_text_file" not in {f.name for f in builtin_functions(None)}
    (tmp_path / "a.txt").write_text("A")
    (reader,) = [f for f in builtin_functions(str(tmp_path)) if f.name == "read_text_file"]
    assert reader.func(path="a.txt")["content"] == "A"


# --------------------------------------------------------------------------- plugins

PLUGIN = textwrap.dedent(
    """
    from tui_assistant.tools import function_tool

    @function_tool
    def shout(text: str) -> str:
        \"\"\"Upper-case some text.\"\"\"
        return text.upper()

    @function_tool(needs_approval=True)
    async def wipe(path: str) -> str:
        return "wiped " + path

    def helper():  # not marked: not a tool
        return 1
    """
)


def test_module_path_plugins(tmp_path: Path):
    plugin = tmp_path / "my_tools.py"
    plugin.write_text(PLUGIN)
    broken = tmp_path / "broken.py"
    broken.write_text("def oops(:\n")
    registry, problems = build_registry(
        modules=[str(plugin), str(broken), "no_such_module_for_tools", str(tmp_path / "gone.py")],
        approval_required=["shout"],
        entry_points=False,
    )
    assert registry.names == ["calculate", "current_time", "shout", "wipe"]
    assert registry.get("shout").needs_approval  # from the configuration
    assert registry.get("wipe").needs_approval  # from the decorator
    assert registry.get("shout").source == f"module {plugin}"
    assert [p.source for p in problems] == [
        f"module {broken}",
        "module no_such_module_for_tools",
        f"module {tmp_path / 'gone.py'}",
    ]
    assert "SyntaxError" in problems[0].message
    assert "ModuleNotFoundError" in problems[1].message


def test_module_with_a_tools_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    package = tmp_path / "pkg_tools_list"
    package.mkdir()
    (package / "__init__.py").write_text(
        "from tui_assistant.tools import LocalFunction\n"
        "TOOLS = [LocalFunction('ping', 'Ping.', {'type': 'object'}, func=lambda: 'pong')]\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    (ping,) = functions_in(load_module("pkg_tools_list"), "module pkg_tools_list")
    assert ping.func() == "pong"


def test_entry_point_plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "ep_tools.py").write_text(PLUGIN + "\nNOT_A_TOOL = 3\n")
    dist = tmp_path / "ep_tools-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ep-tools\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[tui_assistant.tools]\n"
        "all = ep_tools\n"
        "one = ep_tools:shout\n"
        "bad = ep_tools:NOT_A_TOOL\n"
        "missing = ep_tools_missing:thing\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    functions, problems = load_entry_points()
    assert sorted(f.name for f in functions) == ["shout", "shout", "wipe"]
    assert {p.source.split()[2] for p in problems} == {"bad", "missing"}
    registry, _ = build_registry()
    assert {"shout", "wipe"} <= set(registry.names)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(tmp_path)])


# --------------------------------------------------------------------------- the runner


async def run_turn(
    server: Any, runner_options: dict[str, Any], text: str = "go"
) -> tuple[list[ev.RunEvent], ToolRunner, Session, AssistantsEngine]:
    engine = AssistantsEngine(server.base_url, "test")
    try:
        (demo,) = [a for a in await engine.list_assistants() if a.name == "Demo assistant"]
        thread_id = await engine.create_thread()
        session = Session(engine, poll_interval=0.02)
        options = {"run_status": None, **runner_options}
        if options.pop("cancel_session", False):
            options["cancel"] = session.cancel
        if options["run_status"] == "engine":
            async def status(thread: str, run: str) -> str:
                return (await engine.retrieve_run(thread, run)).status

            options["run_status"] = status
        runner = ToolRunner(options.pop("registry"), **options)
        session.on_action = runner
        events = [e async for e in session.send(thread_id, demo.id, text)]
    finally:
        await engine.aclose()
    return events, runner, session, engine


def registry_with(*functions: LocalFunction) -> ToolRegistry:
    return ToolRegistry([*builtin_functions(), *functions])


async def test_a_local_function_runs_and_its_output_is_submitted(start_server: Any):
    model = CallingModel([("calculate", {"expression": "6*7"})])
    events, runner, _, _ = await run_turn(start_server(model=model), {"registry": registry_with()})
    assert model.outputs() == [{"expression": "6*7", "result": 42}]
    assert [r.outcome for r in runner.results] == ["ok"]
    (reply,) = [e for e in events if isinstance(e, ev.MessageCompleted)]
    assert reply.text == 'calculate={"expression": "6*7", "result": 42}'
    assert isinstance(events[-1], ev.RunCompleted) and events[-1].status == "completed"


async def test_parallel_calls_run_concurrently_and_are_submitted_together(start_server: Any):
    # Each call waits until all three are running: run one after another, the first
    # would give up waiting and say so in its output.
    import threading

    all_started = threading.Barrier(3, timeout=5)

    def slow(label: str) -> str:
        try:
            all_started.wait()
        except threading.BrokenBarrierError:
            return f"{label} ran alone"
        return label

    async def slower(label: str) -> str:
        try:
            await asyncio.to_thread(all_started.wait)
        except threading.BrokenBarrierError:
            return f"{label} ran alone"
        return label.upper()

    registry = registry_with(
        LocalFunction("slow", "", {"type": "object"}, func=slow),
        LocalFunction("slower", "", {"type": "object"}, func=slower),
    )
    model = CallingModel(
        [("slow", {"label": "a"}), ("slower", {"label": "b"}), ("slow", {"label": "c"})]
    )
    server = start_server(model=model)
    events, runner, _, _ = await run_turn(server, {"registry": registry})
    assert model.outputs() == ["a", "B", "c"]  # in call order, and all three ran together
    assert len(model.contexts) == 2  # one submission carried all three outputs
    (action,) = [e for e in events if isinstance(e, ev.ActionRequired)]
    assert len(action.calls) == 3


async def test_errors_time_outs_and_bad_arguments_become_error_outputs(start_server: Any):
    def explode() -> str:
        raise RuntimeError("the disk is on fire")

    import threading

    release = threading.Event()  # the sync sleeper runs until the test lets it go
    finished = threading.Event()

    def sleepy() -> str:
        release.wait(30)
        finished.set()
        return "too late"

    async def sleepy_async() -> str:
        await asyncio.sleep(30)
        return "too late"

    registry = registry_with(
        LocalFunction("explode", "", {"type": "object"}, func=explode),
        LocalFunction("sleepy", "", {"type": "object"}, func=sleepy, timeout=0.2),
        LocalFunction("sleepy_async", "", {"type": "object"}, func=sleepy_async),
    )
    model = CallingModel(
        [
            ("explode", {}),
            ("sleepy", {}),
            ("sleepy_async", {}),
            ("calculate", {"expression": 3}),
            ("calculate", "{not json"),
            ("calculate", {"expression": "1/0"}),
        ]
    )
    try:
        events, runner, _, _ = await run_turn(
            start_server(model=model), {"registry": registry, "timeout": 0.3}
        )
        assert not finished.is_set()  # the turn did not wait for the sync sleeper
    finally:
        release.set()
    assert model.outputs() == [
        {"error": "explode failed: RuntimeError: the disk is on fire"},
        {"error": "sleepy did not finish within 0.2 s and was abandoned."},
        {"error": "sleepy_async did not finish within 0.3 s and was abandoned."},
        {"error": "Invalid arguments for calculate: expression must be string."},
        {"error": "The arguments for calculate are not valid JSON: {not json"},
        {"error": "calculate failed: ValueError: Division by zero."},
    ]
    assert sorted(r.outcome for r in runner.results) == ["error"] * 4 + ["timeout"] * 2
    assert events[-1].status == "completed"


class Human:
    """Answers questions from a script, and records them."""

    def __init__(self, *answers: HumanAnswer | None) -> None:
        self.answers = list(answers)
        self.requests: list[HumanRequest] = []

    async def __call__(self, request: HumanRequest) -> HumanAnswer:
        self.requests.append(request)
        answer = self.answers.pop(0)
        if answer is None:  # never answers
            await asyncio.Event().wait()
        return answer


async def test_unknown_function_is_answered_by_hand(start_server: Any):
    model = CallingModel([("get_weather", {"city": "Oslo"}), ("calculate", {"expression": "1+1"})])
    human = Human(HumanAnswer.output("light rain, 4 °C"))
    events, runner, _, _ = await run_turn(
        start_server(model=model), {"registry": registry_with(), "ask": human}
    )
    (request,) = human.requests
    assert request.kind == "answer" and request.call.name == "get_weather"
    assert request.arguments_text == '{\n  "city": "Oslo"\n}'
    assert request.expires_at is not None and request.expires_at > time.time() + 500
    assert model.outputs() == ["light rain, 4 °C", {"expression": "1+1", "result": 2}]
    assert {r.call.name: r.outcome for r in runner.results} == {
        "get_weather": "answered",
        "calculate": "ok",
    }


async def test_approve_and_deny(start_server: Any):
    calls = []

    def deploy(target: str) -> str:
        calls.append(target)
        return f"deployed {target}"

    registry = registry_with(
        LocalFunction("deploy", "Deploy the site.", {"type": "object"}, func=deploy,
                      needs_approval=True)
    )
    model = CallingModel([("deploy", {"target": "staging"}), ("deploy", {"target": "prod"})])
    human = Human(HumanAnswer.approve(), HumanAnswer.deny("not on a Friday"))
    await run_turn(start_server(model=model), {"registry": registry, "ask": human})
    assert [(r.kind, r.position, r.total, r.description) for r in human.requests] == [
        ("approve", 1, 2, "Deploy the site."),
        ("approve", 2, 2, "Deploy the site."),
    ]
    assert calls == ["staging"]
    assert model.outputs() == [
        "deployed staging",
        {"error": "The user denied the call to deploy. Reason: not on a Friday"},
    ]


async def test_without_anyone_to_ask(start_server: Any):
    registry = registry_with(
        LocalFunction("deploy", "", {"type": "object"}, func=lambda: "x", needs_approval=True)
    )
    model = CallingModel([("deploy", {}), ("mystery", {})])
    await run_turn(start_server(model=model), {"registry": registry})
    assert model.outputs() == [
        {"error": "The user denied the call to deploy. Reason: Nobody is there to approve it."},
        {"error": "No local function named mystery is available."},
    ]


async def test_cancel_from_the_question_cancels_the_run(start_server: Any):
    model = CallingModel([("mystery", {}), ("other", {})])
    human = Human(HumanAnswer.cancel())
    events, runner, _, _ = await run_turn(
        start_server(model=model),
        {"registry": registry_with(), "ask": human, "cancel_session": True},
    )
    assert len(human.requests) == 1  # the second question was never asked
    assert len(model.contexts) == 1  # nothing was submitted
    assert isinstance(events[-1], ev.RunCompleted) and events[-1].status == "cancelled"
    assert [r.outcome for r in runner.results] == ["cancelled", "cancelled"]


async def test_run_expiring_while_the_user_thinks(start_server: Any):
    model = CallingModel([("mystery", {})])
    server = start_server(model=model)
    human = Human(None)  # never answers
    asked = asyncio.Event()

    async def ask(request: HumanRequest) -> HumanAnswer:
        asked.set()
        return await human(request)

    async def expire_when_asked() -> None:
        await asked.wait()
        (run_id,) = list(server.app.api.runs.active)
        server._server.loop.call_soon_threadsafe(server.app.api.runs._expire, run_id)

    expiring = asyncio.create_task(expire_when_asked())
    started = time.monotonic()
    events, *_ = await run_turn(
        server, {"registry": registry_with(), "ask": ask, "run_status": "engine",
                 "poll_interval": 0.05}
    )
    await expiring
    assert time.monotonic() - started < 5
    assert len(model.contexts) == 1  # nothing was submitted to the expired run
    assert isinstance(events[-1], ev.RunFailed)
    assert (events[-1].status, events[-1].code) == ("expired", "expired")


async def test_deadline_passing_while_the_run_still_waits(start_server: Any):
    """The client's clock says the run's time is up, the server still waits: the
    unanswered call gets an error output instead of hanging."""
    model = CallingModel([("mystery", {})])
    events, runner, _, _ = await run_turn(
        start_server(model=model),
        {
            "registry": registry_with(),
            "ask": Human(None),
            "clock": lambda: time.time() + 599.9,
            "poll_interval": 10,
        },
    )
    assert model.outputs() == [
        {"error": "Nobody answered the call to mystery before the run's time ran out."}
    ]
    assert [r.outcome for r in runner.results] == ["unanswered"]
    assert events[-1].status == "completed"
