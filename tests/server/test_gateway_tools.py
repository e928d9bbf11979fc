"""Tools through the gateway: functions, the code interpreter and file search."""

from __future__ import annotations

import json
from typing import Any

from openai import AssistantEventHandler

from tests.support.gateway import call_chunks, text_chunks

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def _thread(client: Any, text: str) -> Any:
    return client.beta.threads.create(messages=[{"role": "user", "content": text}])


def test_function_call_round_trip(gateway: Any, upstream: Any) -> None:
    server, client = gateway()
    upstream.script(
        call_chunks([("call_w1", "get_weather", '{"city": "Oslo"}')]),
        text_chunks("It is sunny in Oslo."),
    )
    assistant = client.beta.assistants.create(model="m1", tools=[WEATHER])
    thread = _thread(client, "Weather in Oslo?")
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "requires_action"
    calls = run.required_action.submit_tool_outputs.tool_calls
    assert [(c.id, c.function.name, json.loads(c.function.arguments)) for c in calls] == [
        ("call_w1", "get_weather", {"city": "Oslo"})
    ]
    assert upstream.requests[0]["tools"] == [WEATHER]
    run = client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id,
        thread_id=thread.id,
        tool_outputs=[{"tool_call_id": "call_w1", "output": "sunny"}],
    )
    assert run.status == "completed", run.last_error
    second = upstream.requests[1]["messages"]
    assert second[-2]["role"] == "assistant"
    assert second[-2]["tool_calls"][0]["id"] == "call_w1"
    assert second[-2]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert second[-1] == {"role": "tool", "tool_call_id": "call_w1", "content": "sunny"}
    reply = client.beta.threads.messages.list(thread.id).data[0]
    assert reply.content[0].text.value == "It is sunny in Oslo."


def test_parallel_calls_tool_choice_and_parallel_tool_calls_pass_through(
    gateway: Any, upstream: Any
) -> None:
    server, client = gateway()
    upstream.script(
        call_chunks(
            [
                ("call_a", "get_weather", '{"city": "Oslo"}'),
                ("call_b", "get_weather", '{"city": "Rome"}'),
            ]
        ),
        text_chunks("Both done."),
    )
    assistant = client.beta.assistants.create(model="m1", tools=[WEATHER])
    thread = _thread(client, "Oslo and Rome?")
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id,
        assistant_id=assistant.id,
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        parallel_tool_calls=False,
    )
    sent = upstream.requests[0]
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert sent["parallel_tool_calls"] is False
    calls = run.required_action.submit_tool_outputs.tool_calls
    assert [c.id for c in calls] == ["call_a", "call_b"]
    run = client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id,
        thread_id=thread.id,
        tool_outputs=[
            {"tool_call_id": "call_a", "output": "cold"},
            {"tool_call_id": "call_b", "output": "warm"},
        ],
    )
    assert run.status == "completed"
    assert upstream.requests[1]["tool_choice"] == "auto"  # forced once, not forever
    tool_messages = [m for m in upstream.requests[1]["messages"] if m["role"] == "tool"]
    assert tool_messages == [
        {"role": "tool", "tool_call_id": "call_a", "content": "cold"},
        {"role": "tool", "tool_call_id": "call_b", "content": "warm"},
    ]


def test_tool_choice_none_sends_no_tools(gateway: Any, upstream: Any) -> None:
    server, client = gateway()
    upstream.script(text_chunks("plain"))
    assistant = client.beta.assistants.create(
        model="m1", tools=[WEATHER, {"type": "code_interpreter"}]
    )
    thread = _thread(client, "hi")
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, tool_choice="none"
    )
    assert run.status == "completed"
    assert "tools" not in upstream.requests[0]


class Steps(AssistantEventHandler):
    def __init__(self) -> None:
        super().__init__()
        self.code_input: list[str] = []
        self.logs: list[str] = []

    def on_tool_call_delta(self, delta: Any, snapshot: Any) -> None:
        if delta.type == "code_interpreter" and delta.code_interpreter is not None:
            if delta.code_interpreter.input:
                self.code_input.append(delta.code_interpreter.input)
            for output in delta.code_interpreter.outputs or ():
                if output.type == "logs":
                    self.logs.append(output.logs)


def test_code_interpreter_runs_the_models_code(gateway: Any, upstream: Any) -> None:
    server, client = gateway()
    upstream.script(
        call_chunks([("call_c", "code", json.dumps({"code": "print(6 * 7)"}))]),
        text_chunks("The answer is 42."),
    )
    assistant = client.beta.assistants.create(model="m1", tools=[{"type": "code_interpreter"}])
    thread = _thread(client, "What is six times seven? Use code.")
    handler = Steps()
    with client.beta.threads.runs.stream(
        thread_id=thread.id, assistant_id=assistant.id, event_handler=handler
    ) as stream:
        stream.until_done()
    assert "".join(handler.code_input) == "print(6 * 7)"
    assert handler.logs == ["42\n"]
    offered = upstream.requests[0]["tools"]
    assert offered[0]["function"]["name"] == "code"
    assert offered[0]["function"]["parameters"]["required"] == ["code"]
    run = client.beta.threads.runs.list(thread.id).data[0]
    assert run.status == "completed"
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data
    assert [s.type for s in steps] == ["tool_calls", "message_creation"]
    call = steps[0].step_details.tool_calls[0]
    assert call.type == "code_interpreter"
    assert call.code_interpreter.input == "print(6 * 7)"
    assert call.code_interpreter.outputs[0].logs == "42\n"
    result = upstream.requests[1]["messages"][-1]
    assert result["role"] == "tool" and result["tool_call_id"] == "call_c"
    assert "42" in result["content"]


def test_file_search_gives_numbered_passages_and_citations(gateway: Any, upstream: Any) -> None:
    server, client = gateway()
    document = (
        "Corn flakes were first made in 1894 by the Kellogg brothers.\n\n"
        "Porridge is oats cooked in milk or water.\n"
    )
    file = client.files.create(file=("breakfast.txt", document.encode()), purpose="assistants")
    upstream.script(
        call_chunks([("call_s", "query", json.dumps({"query": "corn flakes invented"}))]),
        text_chunks("Corn flakes date from 1894 【0:0†source】."),
    )
    assistant = client.beta.assistants.create(
        model="m1",
        tools=[{"type": "file_search"}],
        tool_resources={"file_search": {"file_ids": [file.id]}},  # the local extension
    )
    thread = _thread(client, "When were corn flakes invented?")
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "completed", run.last_error
    assert upstream.requests[0]["tools"][0]["function"]["name"] == "query"
    passages = upstream.requests[1]["messages"][-1]["content"]
    assert "【0:0†source】 (breakfast.txt" in passages
    assert "Kellogg" in passages
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data
    search = steps[0].step_details.tool_calls[0]
    assert search.type == "file_search"
    assert search.file_search.results[0].file_id == file.id
    assert 0 < search.file_search.results[0].score <= 1
    reply = client.beta.threads.messages.list(thread.id).data[0].content[0].text
    assert reply.value == "Corn flakes date from 1894 【0:0†source】."
    [annotation] = reply.annotations
    assert annotation.type == "file_citation"
    assert annotation.file_citation.file_id == file.id
    assert reply.value[annotation.start_index : annotation.end_index] == "【0:0†source】"


def test_tool_rounds_are_capped_and_the_run_ends_incomplete(gateway: Any, upstream: Any) -> None:
    server, client = gateway(max_tool_rounds=2)
    upstream.script(call_chunks([("", "code", json.dumps({"code": "print(1)"}))]))
    assistant = client.beta.assistants.create(model="m1", tools=[{"type": "code_interpreter"}])
    thread = _thread(client, "loop forever")
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "incomplete"
    assert run.incomplete_details.reason == "max_tool_rounds"
    assert len(upstream.requests) == 3


def test_code_interpreter_reads_the_attached_files(gateway: Any, upstream: Any) -> None:
    server, client = gateway()
    data = client.files.create(
        file=("prices.csv", b"item,price\ntea,3\ncake,4\n"), purpose="assistants"
    )
    code = "import csv\nprint(sum(int(r['price']) for r in csv.DictReader(open('prices.csv'))))"
    upstream.script(
        call_chunks([("call_f", "code", json.dumps({"code": code}))]), text_chunks("7 in all.")
    )
    assistant = client.beta.assistants.create(
        model="m1",
        tools=[{"type": "code_interpreter"}],
        tool_resources={"code_interpreter": {"file_ids": [data.id]}},
    )
    thread = _thread(client, "What do they cost together?")
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "completed", run.last_error
    described = upstream.requests[0]["tools"][0]["function"]["description"]
    assert "prices.csv" in described
    result = upstream.requests[1]["messages"][-1]["content"]
    assert "The code ran." in result and "7" in result


def test_a_paused_run_resumes_after_the_server_restarts(
    gateway: Any, upstream: Any, tmp_path: Any
) -> None:
    db = tmp_path / "server.db"
    server, client = gateway(db_path=db)
    upstream.script(
        call_chunks([("call_r", "get_weather", '{"city": "Oslo"}')]), text_chunks("Sunny.")
    )
    assistant = client.beta.assistants.create(model="m1", tools=[WEATHER])
    thread = _thread(client, "Weather in Oslo?")
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "requires_action"
    server.stop()
    server, client = gateway(db_path=db)
    run = client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id,
        thread_id=thread.id,
        tool_outputs=[{"tool_call_id": "call_r", "output": "sun"}],
    )
    assert run.status == "completed", run.last_error
    sent = upstream.requests[1]["messages"]
    assert sent[0] == {"role": "user", "content": "Weather in Oslo?"}
    assert sent[1]["tool_calls"][0]["id"] == "call_r"
    assert sent[2] == {"role": "tool", "tool_call_id": "call_r", "content": "sun"}


def test_an_image_the_code_draws_is_shown_in_the_reply(gateway: Any, upstream: Any) -> None:
    server, client = gateway()
    code = "open('chart.png', 'wb').write(b'\\x89PNG\\r\\n\\x1a\\n' + bytes(32))"
    upstream.script(
        call_chunks([("call_i", "code", json.dumps({"code": code}))]), text_chunks("Drawn.")
    )
    assistant = client.beta.assistants.create(model="m1", tools=[{"type": "code_interpreter"}])
    thread = _thread(client, "Draw something")
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "completed", run.last_error
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data
    outputs = steps[0].step_details.tool_calls[0].code_interpreter.outputs
    [image] = [o for o in outputs if o.type == "image"]
    reply = client.beta.threads.messages.list(thread.id).data[0]
    assert [c.type for c in reply.content] == ["image_file", "text"]
    assert reply.content[0].image_file.file_id == image.image.file_id
    assert reply.content[1].text.value == "Drawn."
    assert "drew 1 image" in upstream.requests[1]["messages"][-1]["content"]


def test_without_a_code_interpreter_the_code_tool_is_not_offered(
    gateway: Any, upstream: Any
) -> None:
    server, client = gateway(code_interpreter=False)
    upstream.script(text_chunks("No code today."))
    assistant = client.beta.assistants.create(
        model="m1", tools=[{"type": "code_interpreter"}, WEATHER]
    )
    thread = _thread(client, "Run something")
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "completed"
    assert [t["function"]["name"] for t in upstream.requests[0]["tools"]] == ["get_weather"]
