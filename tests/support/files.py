"""A thread that asks about an attached handbook (file search with citations)."""

from __future__ import annotations

HANDBOOK = b"The office opens at nine in the morning.\n\nThe office closes at six.\n"


async def ask_with_file(client, assistant_id: str, question: str):
    handbook = await client.files.create(file=("handbook.txt", HANDBOOK), purpose="assistants")
    thread = await client.beta.threads.create()
    await client.beta.threads.runs.create_and_poll(
        thread_id=thread.id,
        assistant_id=assistant_id,
        additional_messages=[{
            "role": "user",
            "content": question,
            "attachments": [{"file_id": handbook.id, "tools": [{"type": "file_search"}]}],
        }],
    )
    steps = await client.beta.threads.runs.steps.list(
        thread_id=thread.id, run_id=(await client.beta.threads.runs.list(thread.id)).data[0].id
    )
    reply = (await client.beta.threads.messages.list(thread.id, limit=1)).data[0]
    return thread.id, steps.data, reply.content[0].text
