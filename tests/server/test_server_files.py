"""The local server's Files API, attachments and tool resources, and private file modes."""

from __future__ import annotations

import io
import os
import stat

import httpx2
import openai
import pytest

from tui_assistant.server.files import parse_multipart, read_text


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


async def test_files_crud(openai_client, openapi):
    client = openai_client
    before = dict(openapi.checked)
    notes = await client.files.create(
        file=("notes.txt", b"hello\r\n--not a boundary\n", "text/plain"), purpose="assistants"
    )
    assert notes.id.startswith("file-") and len(notes.id) == 27
    assert (notes.object, notes.filename, notes.purpose, notes.bytes) == (
        "file",
        "notes.txt",
        "assistants",
        len(b"hello\r\n--not a boundary\n"),
    )
    assert notes.status == "processed"
    blob = await client.files.create(file=io.BytesIO(bytes(range(256)) * 40), purpose="user_data")
    assert blob.filename == "upload" and blob.bytes == 10240

    assert await client.files.retrieve(notes.id) == notes
    listed = await client.files.list()
    assert [f.id for f in listed.data] == [blob.id, notes.id]  # newest first
    assert [f.id for f in (await client.files.list(purpose="assistants")).data] == [notes.id]
    page = await client.files.list(limit=1, order="asc")
    assert [f.id for f in page.data] == [notes.id] and page.has_more
    assert [f.id async for f in client.files.list(limit=1)] == [blob.id, notes.id]

    content = await client.files.content(blob.id)
    assert content.content == bytes(range(256)) * 40
    async with client.files.with_streaming_response.content(notes.id) as response:
        assert response.headers["content-disposition"].startswith("attachment")
        assert response.headers["content-type"].startswith("text/plain")
        assert await response.read() == b"hello\r\n--not a boundary\n"

    deleted = await client.files.delete(notes.id)
    assert (deleted.id, deleted.object, deleted.deleted) == (notes.id, "file", True)
    for call in (client.files.retrieve, client.files.content, client.files.delete):
        with pytest.raises(openai.NotFoundError):
            await call(notes.id)
    grown = {k for k, v in openapi.checked.items() if v > before.get(k, 0)}
    assert {"OpenAIFile", "ListFilesResponse", "DeleteFileResponse", "ErrorResponse"} <= grown


async def test_upload_errors(openai_client, local_server):
    client = openai_client
    with pytest.raises(openai.BadRequestError) as caught:
        await client.files.create(file=("a.jsonl", b"{}"), purpose="fine-tune")
    assert caught.value.body["param"] == "purpose"
    async with httpx2.AsyncClient() as raw:
        url = local_server.base_url + "/files"
        response = await raw.post(url, json={"purpose": "assistants"})
        assert response.status_code == 400 and "multipart" in response.json()["error"]["message"]
        response = await raw.post(url, files={"file": ("x.txt", b"x")})
        assert response.json()["error"]["param"] == "purpose"
        response = await raw.post(url, data={"purpose": "assistants"}, files={})
        assert response.status_code == 400


def test_multipart_parser_edge_cases():
    body = (
        b'--XyZ\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nassistants\r\n'
        b'--XyZ\r\nContent-Disposition: form-data; name="file"; '
        b"filename*=UTF-8''caf%C3%A9%20menu.txt\r\nContent-Type: text/plain\r\n\r\n"
        b"line one\r\n\r\nline two\r\n--XyZ--\r\n"
    )
    parts = parse_multipart(body, 'multipart/form-data; boundary="XyZ"')
    assert parts["purpose"].data == b"assistants"
    assert parts["file"].filename == "café menu.txt"
    assert parts["file"].data == b"line one\r\n\r\nline two"
    assert parts["file"].content_type == "text/plain"


async def test_attachments_and_tool_resources_are_checked(openai_client):
    client = openai_client
    data = await client.files.create(file=("data.csv", b"a,b\n1,2\n"), purpose="assistants")
    thread = await client.beta.threads.create()
    message = await client.beta.threads.messages.create(
        thread.id,
        role="user",
        content="see the file",
        attachments=[{"file_id": data.id, "tools": [{"type": "code_interpreter"}]}],
    )
    assert message.attachments[0].file_id == data.id
    assert message.attachments[0].tools[0].type == "code_interpreter"
    with pytest.raises(openai.BadRequestError) as caught:
        await client.beta.threads.messages.create(
            thread.id,
            role="user",
            content="x",
            attachments=[{"file_id": "file-missing", "tools": [{"type": "file_search"}]}],
        )
    assert caught.value.body["param"] == "attachments[0].file_id"
    with pytest.raises(openai.BadRequestError):
        await client.beta.threads.messages.create(
            thread.id,
            role="user",
            content="x",
            attachments=[{"file_id": data.id, "tools": [{"type": "function"}]}],
        )
    assistant = await client.beta.assistants.create(
        model="demo",
        tools=[{"type": "file_search", "file_search": {"max_num_results": 5}}],
        tool_resources={"file_search": {"file_ids": [data.id]}},  # the local extension
    )
    assert assistant.tool_resources.file_search.model_extra["file_ids"] == [data.id]
    with pytest.raises(openai.BadRequestError) as caught:
        await client.beta.assistants.create(
            model="demo", tool_resources={"file_search": {"vector_stores": [{"file_ids": []}]}}
        )
    assert "no vector stores" in caught.value.body["message"]
    with pytest.raises(openai.BadRequestError):
        await client.beta.assistants.create(
            model="demo", tool_resources={"code_interpreter": {"file_ids": ["file-nope"]}}
        )
    with pytest.raises(openai.BadRequestError):
        await client.beta.assistants.create(
            model="demo",
            tools=[{"type": "file_search", "file_search": {"max_num_results": 99}}],
        )
    with pytest.raises(openai.BadRequestError):
        await client.beta.threads.runs.create(
            thread_id=thread.id,
            assistant_id=assistant.id,
            additional_messages=[
                {"role": "user", "content": "x", "attachments": [{"file_id": "f", "tools": []}]}
            ],
        )


async def test_server_files_are_private(start_server, make_client, tmp_path):
    data_dir = tmp_path / "data"
    db = data_dir / "server.db"
    db.parent.mkdir()
    db.touch(mode=0o644)  # an old database, made before the server fixed its mode
    os.chmod(db, 0o644)
    server = start_server(db_path=db)
    client = make_client(server)
    uploaded = await client.files.create(file=("n.txt", b"secret"), purpose="assistants")
    assistant = await client.beta.assistants.create(model="demo")
    await client.beta.threads.runs.create_and_poll(
        thread_id=(await client.beta.threads.create()).id,
        assistant_id=assistant.id,
        additional_messages=[{"role": "user", "content": "hello"}],
    )
    files_dir = data_dir / "server-files"
    written = [db, *data_dir.glob("server.db*"), files_dir / uploaded.id]
    assert {p.name for p in written} >= {"server.db", "server.db.lock", "server.db-wal"}
    for path in written:
        assert mode(path) == 0o600, path
    assert mode(files_dir) == 0o700
    server.stop()
    assert (files_dir / uploaded.id).read_bytes() == b"secret"  # kept with the database


async def test_memory_server_keeps_files_in_a_temporary_directory(start_server, make_client):
    server = start_server()
    client = make_client(server)
    uploaded = await client.files.create(file=("n.txt", b"x"), purpose="assistants")
    path = server.app.api.files.path(uploaded.id)
    assert path.read_bytes() == b"x" and mode(path) == 0o600
    server.stop()
    assert not path.exists() and not path.parent.exists()


def test_read_text_skips_binary_files(start_server):
    server = start_server()
    store = server.app.api.files
    text = store.create("a.txt", "naïve café\n".encode(), "assistants")
    binary = store.create("b.bin", b"\x00\x01\x02", "assistants")
    latin = store.create("c.txt", "caf\xe9 au lait".encode("latin-1"), "assistants")
    assert read_text(store, text["id"]) == "naïve café\n"
    assert read_text(store, binary["id"]) is None
    assert read_text(store, latin["id"]) is None
