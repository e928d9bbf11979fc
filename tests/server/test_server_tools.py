"""The demo model's tools on the local server: code interpreter, function calls, file search.

Everything goes through the real SDK (schema-checked by the conftest client).
"""

from __future__ import annotations

import asyncio
import json
import textwrap

import openai
import pytest

from tui_assistant.server.demo_tools import parse_triggers
from tui_assistant.server.sandbox import CodeLimits
from tui_assistant.server.search import SearchFile, passages, search, terms

INCLUDE = ["step_details.tool_calls[*].file_search.results[*].content"]

# A 1×1 PNG, written without any library (matplotlib may not be installed).
PNG_CODE = textwrap.dedent(
    """\
    import struct, zlib

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    png = (b"\\x89PNG\\r\\n\\x1a\\n" + chunk(b"IHDR", header)
           + chunk(b"IDAT", zlib.compress(b"\\x00\\x00")) + chunk(b"IEND", b""))
    with open("dot.png", "wb") as out:
        out.write(png)
    with open("table.csv", "w") as out:
        out.write("x,y\\n1,2\\n")
    print("wrote", len(png), "bytes")
    """
)


def python_block(code: str) -> str:
    return f"```python\n{code}```\n"


async def code_assistant(client: openai.AsyncOpenAI) -> str:
    assistant = await client.beta.assistants.create(
        model="demo", tools=[{"type": "code_interpreter"}]
    )
    return assistant.id


async def stream(client: openai.AsyncOpenAI, thread_id: str, assistant_id: str, text: str, **kw):
    """Start a streaming run with one user message; return the SDK's events."""
    events = await client.beta.threads.runs.create(
        thread_id=thread_id,
        assistant_id=assistant_id,
        additional_messages=[{"role": "user", "content": text, **kw.pop("message", {})}],
        stream=True,
        **kw,
    )
    return [event async for event in events]


async def submit(client, thread_id: str, run_id: str, outputs: list[dict]):
    events = await client.beta.threads.runs.submit_tool_outputs(
        run_id, thread_id=thread_id, tool_outputs=outputs, stream=True
    )
    return [event async for event in events]


def first(events, name: str):
    return next(e.data for e in events if e.event == name)


async def reply(client, thread_id: str):
    return (await client.beta.threads.messages.list(thread_id, limit=1)).data[0]


# --- code interpreter -------------------------------------------------------------------


async def test_code_interpreter_logs_image_and_file(openai_client):
    client = openai_client
    assistant_id = await code_assistant(client)
    thread = await client.beta.threads.create()
    events = await stream(client, thread.id, assistant_id, "Draw:\n" + python_block(PNG_CODE))

    names = [e.event for e in events]
    step_events = [
        n for n in names if n.startswith("thread.run.step.") and n != "thread.run.step.delta"
    ]
    assert step_events == [
        "thread.run.step.created",  # the tool call
        "thread.run.step.in_progress",
        "thread.run.step.completed",
        "thread.run.step.created",  # the reply
        "thread.run.step.in_progress",
        "thread.run.step.completed",
    ]
    assert names[-1] == "thread.run.completed"
    created = next(e.data for e in events if e.event == "thread.run.step.created")
    assert created.type == "tool_calls" and created.step_details.tool_calls == []

    deltas = [
        e.data.delta.step_details.tool_calls[0]
        for e in events
        if e.event == "thread.run.step.delta"
    ]
    assert deltas[0].id.startswith("call_") and deltas[0].code_interpreter.input == ""
    assert all(d.id is None for d in deltas[1:])  # the id comes once
    streamed = "".join(d.code_interpreter.input or "" for d in deltas)
    assert streamed == PNG_CODE
    outputs_delta = deltas[-1].code_interpreter.outputs
    assert [o.type for o in outputs_delta] == ["logs", "image"]
    assert [o.index for o in outputs_delta] == [0, 1]

    step = first(events, "thread.run.step.completed")
    (call,) = step.step_details.tool_calls
    assert call.type == "code_interpreter" and call.id == deltas[0].id
    assert call.code_interpreter.input == PNG_CODE
    logs, image = call.code_interpreter.outputs
    assert logs.logs == "wrote 67 bytes\n"
    assert step.usage.completion_tokens > 0 and step.usage.prompt_tokens > 0

    png = await client.files.content(image.image.file_id)
    assert png.content.startswith(b"\x89PNG\r\n\x1a\n") and len(png.content) == 67
    stored = await client.files.retrieve(image.image.file_id)
    assert (stored.filename, stored.purpose) == ("dot.png", "assistants_output")

    message = await reply(client, thread.id)
    assert [block.type for block in message.content] == ["image_file", "text"]
    assert message.content[0].image_file.file_id == image.image.file_id
    text = message.content[1].text
    assert "wrote 67 bytes" in text.value and "It drew 1 image" in text.value
    (annotation,) = text.annotations
    assert annotation.type == "file_path" and annotation.text == "sandbox:/mnt/data/table.csv"
    assert text.value[annotation.start_index : annotation.end_index] == annotation.text
    table = await client.files.content(annotation.file_path.file_id)
    assert table.content == b"x,y\n1,2\n"

    # The message deltas built the same content: the image block, then annotated text.
    message_deltas = [e.data.delta.content[0] for e in events if e.event == "thread.message.delta"]
    assert message_deltas[0].type == "image_file" and message_deltas[0].index == 0
    assert {d.index for d in message_deltas[1:]} == {1}
    assert "".join(d.text.value for d in message_deltas[1:]) == text.value
    annotated = [d for d in message_deltas[1:] if d.text.annotations]
    assert [d.text.annotations[0].model_dump(exclude_none=True) for d in annotated] == [
        {"index": 0, **annotation.model_dump(exclude_none=True)}
    ]

    run_id = message.run_id
    steps = await client.beta.threads.runs.steps.list(run_id, thread_id=thread.id, order="asc")
    assert [s.type for s in steps.data] == ["tool_calls", "message_creation"]
    assert steps.data[0] == step
    fetched = await client.beta.threads.runs.steps.retrieve(
        step.id, thread_id=thread.id, run_id=run_id
    )
    assert fetched == step
    run = await client.beta.threads.runs.retrieve(run_id, thread_id=thread.id)
    assert run.usage.completion_tokens == sum(s.usage.completion_tokens for s in steps.data)


async def test_code_errors_and_timeouts_show_in_logs(start_server, make_client):
    server = start_server(code_limits=CodeLimits(timeout=0.5))
    client = make_client(server)
    assistant_id = await code_assistant(client)
    thread = await client.beta.threads.create()
    failing = "def half(x):\n    return x / 0\n\nprint('before')\nhalf(3)\n"
    events = await stream(client, thread.id, assistant_id, python_block(failing))
    step = first(events, "thread.run.step.completed")
    logs = step.step_details.tool_calls[0].code_interpreter.outputs[0].logs
    assert logs.startswith("before\nTraceback (most recent call last):\n")
    assert 'File "<code>", line 2, in half' in logs and "return x / 0" in logs
    assert logs.rstrip().endswith("ZeroDivisionError: division by zero")
    assert "sandbox" not in logs and "_run" not in logs  # only the user's frames
    text = (await reply(client, thread.id)).content[0].text.value
    assert "It failed: `ZeroDivisionError: division by zero`" in text
    assert events[-1].event == "thread.run.completed"

    slow = "import time\nprint('started', flush=True)\ntime.sleep(30)\n"
    began = asyncio.get_running_loop().time()
    events = await stream(client, thread.id, assistant_id, python_block(slow))
    assert asyncio.get_running_loop().time() - began < 5
    step = first(events, "thread.run.step.completed")
    logs = step.step_details.tool_calls[0].code_interpreter.outputs[0].logs
    assert logs == "started\nTimeoutError: the code ran longer than 0.5 seconds and was stopped\n"
    text = (await reply(client, thread.id)).content[0].text.value
    assert "but the code ran longer than 0.5 seconds and was stopped" in text


async def test_code_does_not_inherit_secrets(openai_client, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sentinel")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "sentinel")
    client = openai_client
    assistant_id = await code_assistant(client)
    thread = await client.beta.threads.create()
    code = (
        "import os, sys, resource\n"
        "print(sorted(os.environ))\n"
        "print(os.environ.get('OPENAI_API_KEY'))\n"
        "print(os.getcwd() == os.environ['HOME'])\n"
        "print(resource.getrlimit(resource.RLIMIT_AS)[1] > 0)\n"
        "print(sys.flags.isolated)\n"
    )
    events = await stream(client, thread.id, assistant_id, python_block(code))
    step = first(events, "thread.run.step.completed")
    logs = step.step_details.tool_calls[0].code_interpreter.outputs[0].logs
    names, key, home_is_cwd, limited, isolated = logs.splitlines()
    assert set(json.loads(names.replace("'", '"'))) <= {
        "HOME",
        "LANG",
        "MPLBACKEND",
        "PATH",
        "LC_CTYPE",
    }
    assert key == "None" and home_is_cwd == "True" and limited == "True" and isolated == "1"
    assert "sentinel" not in logs


async def test_memory_limit(start_server, make_client):
    client = make_client(start_server(code_limits=CodeLimits(memory_bytes=256 * 1024**2)))
    assistant_id = await code_assistant(client)
    thread = await client.beta.threads.create()
    await stream(client, thread.id, assistant_id, python_block("block = bytearray(1024**3)\n"))
    text = (await reply(client, thread.id)).content[0].text.value
    assert "It failed: `MemoryError`" in text


async def test_attached_files_are_in_the_working_directory(openai_client):
    client = openai_client
    data = await client.files.create(file=("data.csv", b"a,b\n1,2\n3,4\n"), purpose="assistants")
    thread = await client.beta.threads.create()
    default_assistant = (await client.beta.assistants.list()).data[0].id  # no tools
    code = "rows = open('data.csv').read().splitlines()\nlen(rows)\n"
    await stream(
        client,
        thread.id,
        default_assistant,
        python_block(code),
        message={"attachments": [{"file_id": data.id, "tools": [{"type": "code_interpreter"}]}]},
    )
    message = await reply(client, thread.id)
    assert "```text\n3\n```" in message.content[0].text.value  # the last expression's value
    assert message.content[0].text.annotations == []  # an unchanged input is not an output


async def test_the_demo_assistant_runs_pasted_code(openai_client):
    client = openai_client
    demo = (await client.beta.assistants.list()).data[0]
    assert {tool.type for tool in demo.tools} == {"code_interpreter", "file_search"}
    thread = await client.beta.threads.create()
    events = await stream(client, thread.id, demo.id, python_block("print(6 * 7)\n"))
    assert any(e.event == "thread.run.step.delta" for e in events)
    assert "42" in str((await reply(client, thread.id)).content[0].text.value)


async def test_code_is_not_run_without_the_tool(openai_client):
    client = openai_client
    plain = (await client.beta.assistants.create(model="demo", name="No tools")).id
    thread = await client.beta.threads.create()
    events = await stream(client, thread.id, plain, python_block("print(1)\n"))
    assert not any(e.event == "thread.run.step.delta" for e in events)
    text = (await reply(client, thread.id)).content[0].text.value
    assert "did not run it" in text
    # tool_choice "none" turns the trigger off even with the tool.
    assistant_id = await code_assistant(client)
    await stream(client, thread.id, assistant_id, python_block("print(1)\n"), tool_choice="none")
    assert "did not run it" in (await reply(client, thread.id)).content[0].text.value


async def test_cancelling_a_run_stops_its_code(openai_client, tmp_path):
    client = openai_client
    assistant_id = await code_assistant(client)
    thread = await client.beta.threads.create()
    marker = tmp_path / "still-running"
    code = f"import time\ntime.sleep(0.3)\nopen({str(marker)!r}, 'w').write('x')\n"
    run = await client.beta.threads.runs.create(
        thread_id=thread.id,
        assistant_id=assistant_id,
        additional_messages=[{"role": "user", "content": python_block(code)}],
    )
    for _ in range(100):
        steps = await client.beta.threads.runs.steps.list(run.id, thread_id=thread.id)
        if steps.data and steps.data[0].step_details.tool_calls:
            break
        await asyncio.sleep(0.01)
    await client.beta.threads.runs.cancel(run.id, thread_id=thread.id)
    run = await client.beta.threads.runs.poll(run.id, thread_id=thread.id)
    assert run.status == "cancelled"
    (step,) = (await client.beta.threads.runs.steps.list(run.id, thread_id=thread.id)).data
    assert step.status == "cancelled" and step.cancelled_at is not None
    await asyncio.sleep(0.35)
    assert not marker.exists()


# --- function calls ---------------------------------------------------------------------


async def test_single_function_call(openai_client):
    client = openai_client
    assistant_id = (await client.beta.assistants.list()).data[0].id
    thread = await client.beta.threads.create()
    events = await stream(
        client, thread.id, assistant_id, 'What is the weather?\n/call get_weather {"city": "Oslo"}'
    )
    assert [e.event for e in events][-1] == "thread.run.requires_action"
    run = events[-1].data
    (call,) = run.required_action.submit_tool_outputs.tool_calls
    assert (call.function.name, call.function.arguments) == ("get_weather", '{"city": "Oslo"}')

    events = await submit(
        client, thread.id, run.id, [{"tool_call_id": call.id, "output": "sunny, 21 °C"}]
    )
    assert events[-1].event == "thread.run.completed"
    text = (await reply(client, thread.id)).content[0].text.value
    assert text == (
        '**Function results**\n\n- `get_weather({"city": "Oslo"})` returned “sunny, 21 °C”.\n'
    )
    steps = await client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc")
    assert [s.type for s in steps.data] == ["tool_calls", "message_creation"]
    assert steps.data[0].step_details.tool_calls[0].function.output == "sunny, 21 °C"


async def test_parallel_and_sequential_function_calls(openai_client):
    client = openai_client
    assistant_id = (await client.beta.assistants.list()).data[0].id
    thread = await client.beta.threads.create()
    text = '/call get_time\n/call lookup {"q": "x"}\n/call broken {not json'
    events = await stream(client, thread.id, assistant_id, text)
    run = events[-1].data
    calls = run.required_action.submit_tool_outputs.tool_calls
    assert [(c.function.name, c.function.arguments) for c in calls] == [
        ("get_time", "{}"),
        ("lookup", '{"q": "x"}'),
        ("broken", "{not json"),  # passed on as written
    ]
    outputs = [
        {"tool_call_id": calls[0].id, "output": "12:00"},
        {"tool_call_id": calls[1].id, "output": "line one\nline two"},
        {"tool_call_id": calls[2].id, "output": '{"error": "bad arguments"}'},
    ]
    await submit(client, thread.id, run.id, outputs)
    value = (await reply(client, thread.id)).content[0].text.value
    assert "- `get_time({})` returned “12:00”." in value
    assert "```\n  line one\n  line two\n  ```" in value
    assert '“{"error": "bad arguments"}”' in value

    # parallel_tool_calls=False: one call per step, in order.
    events = await stream(
        client, thread.id, assistant_id, "/call one\n/call two", parallel_tool_calls=False
    )
    run = events[-1].data
    names = []
    while run.status == "requires_action":
        (call,) = run.required_action.submit_tool_outputs.tool_calls
        names.append(call.function.name)
        events = await submit(
            client,
            thread.id,
            run.id,
            [{"tool_call_id": call.id, "output": call.function.name.upper()}],
        )
        run = events[-1].data
    assert names == ["one", "two"] and run.status == "completed"
    value = (await reply(client, thread.id)).content[0].text.value
    assert "`one({})` returned “ONE”" in value and "`two({})` returned “TWO”" in value
    steps = await client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc")
    assert [s.type for s in steps.data] == ["tool_calls", "tool_calls", "message_creation"]


async def test_calls_then_code_then_one_reply(openai_client):
    client = openai_client
    assistant_id = await code_assistant(client)
    thread = await client.beta.threads.create()
    text = "/call get_base\n" + python_block("print(6 * 7)\n")
    events = await stream(client, thread.id, assistant_id, text)
    run = events[-1].data
    assert run.status == "requires_action"
    assert not any(e.event == "thread.message.created" for e in events)  # no code ran yet
    (call,) = run.required_action.submit_tool_outputs.tool_calls
    events = await submit(client, thread.id, run.id, [{"tool_call_id": call.id, "output": "7"}])
    assert events[-1].event == "thread.run.completed"
    steps = await client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc")
    kinds = [
        s.step_details.tool_calls[0].type if s.type == "tool_calls" else s.type for s in steps.data
    ]
    assert kinds == ["function", "code_interpreter", "message_creation"]
    value = (await reply(client, thread.id)).content[0].text.value
    assert value.index("`get_base({})` returned “7”") < value.index("```text\n42\n```")


def test_trigger_parsing():
    text = (
        "Please run\n"
        "```python\nprint('/call inside code is not a call')\n```\n"
        '  /call fetch {"id": 1}  \n'
        "```py\n    indented = True\n```\n"
        "```bash\necho not python?\n```\n"
        "and tell me?"
    )
    triggers = parse_triggers(text)
    assert triggers.code == ("print('/call inside code is not a call')\n", "indented = True\n")
    assert [(c.name, c.arguments) for c in triggers.calls] == [("fetch", '{"id": 1}')]
    assert triggers.question.endswith("and tell me?") and "fetch" not in triggers.question
    assert not parse_triggers("just a statement.").any
    assert parse_triggers("/call bad name").calls[0].name == "bad"
    assert parse_triggers("x /call mid-line").calls == ()


# --- file search ------------------------------------------------------------------------

HANDBOOK = """The office opens at nine in the morning on weekdays.

Lunch is served in the canteen between noon and two.

The office closes at six; the door code changes every month.
"""
RECIPES = """Pancakes need flour, milk and eggs.

Bread needs flour, water, salt and time."""


async def test_file_search_results_citations_and_include(openai_client):
    client = openai_client
    handbook = await client.files.create(
        file=("handbook.txt", HANDBOOK.encode()), purpose="assistants"
    )
    recipes = await client.files.create(file=("recipes.md", RECIPES.encode()), purpose="assistants")
    image = await client.files.create(
        file=("pixel.png", b"\x89PNG\r\n\x1a\n\x00\x00"), purpose="assistants"
    )
    assistant = await client.beta.assistants.create(
        model="demo",
        tools=[
            {
                "type": "file_search",
                "file_search": {
                    "max_num_results": 2,
                    "ranking_options": {"ranker": "auto", "score_threshold": 0.05},
                },
            }
        ],
        tool_resources={"file_search": {"file_ids": [recipes.id]}},
    )
    thread = await client.beta.threads.create()
    attachments = [
        {"file_id": handbook.id, "tools": [{"type": "file_search"}]},
        {"file_id": image.id, "tools": [{"type": "file_search"}]},
    ]
    events = await stream(
        client,
        thread.id,
        assistant.id,
        "When does the office open in the morning?",
        message={"attachments": attachments},
        include=INCLUDE,
    )
    delta = first(events, "thread.run.step.delta")
    (delta_call,) = delta.delta.step_details.tool_calls
    assert delta_call.type == "file_search" and delta_call.file_search == {}
    step = first(events, "thread.run.step.completed")
    (call,) = step.step_details.tool_calls
    assert call.id == delta_call.id
    search_details = call.file_search
    assert search_details.ranking_options.ranker == "default_2024_08_21"
    assert search_details.ranking_options.score_threshold == 0.05
    results = search_details.results
    assert len(results) == 2  # max_num_results
    best = results[0]
    assert (best.file_id, best.file_name) == (handbook.id, "handbook.txt")
    assert best.content[0].type == "text"
    assert best.content[0].text == "The office opens at nine in the morning on weekdays."
    assert 0 < results[1].score < best.score < 1
    assert results[1].content[0].text.startswith("The office closes")

    message = await reply(client, thread.id)
    text = message.content[0].text
    assert "I searched 2 files for “When does the office open in the morning?”" in text.value
    assert len(text.annotations) == 2
    for index, annotation in enumerate(text.annotations):
        assert annotation.type == "file_citation"
        assert annotation.text == f"【0:{index}†source】"
        assert text.value[annotation.start_index : annotation.end_index] == annotation.text
        assert annotation.file_citation.file_id == handbook.id
    assert "“The office opens at nine in the morning on weekdays.”【0:0†source】" in text.value

    # Without include, results carry no content: in steps.list/retrieve and in streams.
    plain = await client.beta.threads.runs.steps.retrieve(
        step.id, thread_id=thread.id, run_id=step.run_id
    )
    assert plain.step_details.tool_calls[0].file_search.results[0].content is None
    assert plain.step_details.tool_calls[0].file_search.results[0].score == best.score
    listed = await client.beta.threads.runs.steps.list(
        step.run_id, thread_id=thread.id, include=INCLUDE
    )
    found = [s for s in listed.data if s.id == step.id][0]
    assert (
        found.step_details.tool_calls[0].file_search.results[0].content[0].text
        == best.content[0].text
    )
    fetched = await client.beta.threads.runs.steps.retrieve(
        step.id, thread_id=thread.id, run_id=step.run_id, include=INCLUDE
    )
    assert fetched == step

    events = await stream(client, thread.id, assistant.id, "How do you make bread?")
    step = first(events, "thread.run.step.completed")
    results = step.step_details.tool_calls[0].file_search.results
    assert results[0].file_name == "recipes.md" and results[0].content is None
    assert "Bread needs flour" in (await reply(client, thread.id)).content[0].text.value

    with pytest.raises(openai.BadRequestError):
        await client.beta.threads.runs.steps.list(
            step.run_id, thread_id=thread.id, include=["nope"]
        )


async def test_file_search_with_nothing_found(openai_client):
    client = openai_client
    notes = await client.files.create(file=("notes.txt", b"Apples are red."), purpose="assistants")
    assistant_id = (await client.beta.assistants.list()).data[0].id
    thread = await client.beta.threads.create()
    attach = {"attachments": [{"file_id": notes.id, "tools": [{"type": "file_search"}]}]}
    events = await stream(
        client, thread.id, assistant_id, "Where are the submarines?", message=attach
    )
    step = first(events, "thread.run.step.completed")
    assert step.step_details.tool_calls[0].file_search.results == []
    text = (await reply(client, thread.id)).content[0].text
    assert "no passage matches" in text.value and text.annotations == []
    # A statement (no question mark) does not search.
    events = await stream(client, thread.id, assistant_id, "Apples are nice.")
    assert not any(e.event == "thread.run.step.delta" for e in events)


def test_ranking_is_bm25_normalised():
    files = [
        SearchFile("f1", "a.txt", "cats purr\n\ncats and dogs\n\nbirds sing"),
        SearchFile("f2", "b.txt", "dogs bark at cats cats cats"),
    ]
    found = search(files, "Do the cats purr?")
    assert [(p.file_id, p.text) for p in found] == [
        ("f1", "cats purr"),
        ("f2", "dogs bark at cats cats cats"),
        ("f1", "cats and dogs"),
    ]
    assert all(0 < p.score < 1 for p in found)
    assert found[0].score > found[1].score > found[2].score
    assert search(files, "cats", score_threshold=0.99) == []
    assert search(files, "the of and?") == []  # only stop words
    assert len(search(files, "cats", max_results=1)) == 1
    assert terms("The files' owner's Cats") == ["file", "owner", "cat"]
    long = " ".join(["word"] * 250)
    assert [len(p.split()) for p in passages(long)] == [120, 120, 10]
