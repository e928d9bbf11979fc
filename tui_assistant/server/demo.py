"""The texts of the offline demo model.

``demo_reply`` rearranges the user's own words into a small Markdown answer (a heading,
a paragraph that quotes the message, a bullet list and a Python block), so that every
part of the conversation view has something to render without a network or an API key.
``long_document`` is a fixed document of exactly ``LONG_TOKENS`` tokens, used by the
benchmark and by anyone who wants to watch a long reply stream.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from functools import cache

LONG_TRIGGER = "/long"
LONG_TOKENS = 4000

_TOKEN_RE = re.compile(r"\S+\s*|\s+")
_WORD_RE = re.compile(r"[^\W_][\w'’-]*")
_STOPWORDS = frozenset(
    """a about after again all also am an and any are as at be because been before being
    but by can could did do does doing for from had has have having he her here hers him
    his how i if in into is it its it's just me more most my no nor not of off on once
    only or other our out over own same she should so some such than that the their them
    then there these they this those through to too under until up very was we were what
    when where which while who whom why will with would you your yours""".split()
)
STOPWORDS = _STOPWORDS
"""Words the demo model and the local file search ignore."""


def is_long_request(text: str) -> bool:
    """Whether ``text`` asks for the long demo document."""
    return text.lstrip().lower().startswith(LONG_TRIGGER)


def _one_line(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[:limit].rsplit(" ", 1)[0] or flat[:limit]
    return cut + " …"


def demo_reply(user_text: str) -> str:
    """A deterministic Markdown reply made from the words of ``user_text``."""
    words = _WORD_RE.findall(user_text)
    if not words:
        return _greeting()
    lowered = [w.lower() for w in words]
    counts = Counter(lowered)
    notable = [w for w in dict.fromkeys(lowered) if w not in _STOPWORDS and len(w) > 2]
    if not notable:
        notable = list(dict.fromkeys(lowered))
    notable = notable[:5]
    longest = max(notable, key=lambda w: (len(w), -notable.index(w)))
    title = " ".join(words[:6]) + (" …" if len(words) > 6 else "")
    quote = _one_line(user_text, 160).replace("`", "'")
    plural = "" if len(words) == 1 else "s"

    lines = [
        f"## On “{title}”",
        "",
        f"You wrote {len(words)} word{plural} and {len(user_text.strip())} characters: "
        f"“{quote}”. The word that stands out is **{longest}**. I am the offline demo "
        "model, so I do not understand you; I only rearrange what you typed, the same "
        "way every time.",
        "",
    ]
    for word in notable:
        times = counts[word]
        lines.append(
            f"- **{word}**: {len(word)} letters, used {times} time{'' if times == 1 else 's'}"
        )
    width = len(longest)
    lines += [
        "",
        "```python",
        f"words = {json.dumps(notable, ensure_ascii=False)}",
        "for word in sorted(words, key=len, reverse=True):",
        f'    print(f"{{word:<{width}}} {{len(word)}}")',
        "```",
        "",
        "Send `/long` for a long reply with lists and code, to try scrolling and streaming.",
    ]
    return "\n".join(lines) + "\n"


def _greeting() -> str:
    return (
        "## Hello\n\n"
        "I am the offline demo model of tui-assistant. Write a message and I will answer "
        "with a heading, a paragraph that quotes you, a list of your words and a little "
        "Python.\n\n"
        "- Type a sentence and press the send key.\n"
        "- Send `/long` for a long reply.\n\n"
        "```python\n"
        'print("hello from the demo model")\n'
        "```\n"
    )


# --- The long document ----------------------------------------------------------------

_SECTIONS = [
    "Why a terminal",
    "Threads and messages",
    "Runs and their states",
    "Streaming, token by token",
    "Keeping the screen responsive",
    "Tools the model can call",
    "Cancelling a run",
    "Where things are stored",
    "Working offline",
    "Measuring speed",
    "Keyboard first",
    "What to try next",
]

_SENTENCES = [
    "A terminal client keeps the conversation next to the code it is about.",
    "Every reply arrives as a run, and a run moves through a small set of states.",
    "The thread holds the messages, oldest first, and the run reads all of them.",
    "Streaming shows the first words at once instead of after the whole answer is ready.",
    "Rendering every token separately would waste time, so text is appended in batches.",
    "A batch every fifty to a hundred milliseconds looks smooth and costs little.",
    "Finished messages stay as single widgets, which keeps layout cheap as a thread grows.",
    "The local server speaks the same wire format as the hosted service did.",
    "Nothing here needs a network connection or an API key.",
    "The demo model only rearranges words, but it streams like a real one.",
    "Cancelling a run keeps the part of the reply that was already written.",
    "Tool calls pause the run until the client sends back every output in one request.",
    "Thread ids cannot be listed back from the server, so the client stores them.",
    "Each key binding has a description, so the footer always tells the truth.",
    "Long replies are the best way to see whether scrolling keeps up with the stream.",
    "A slow model and a fast model should feel the same apart from the waiting.",
    "Usage counts are simple here: a token is a word with its trailing space.",
    "When the stream ends, the completed message is the text that counts.",
    "Errors are shown as one line that says what happened and what to do next.",
    "The same run can be followed by streaming or by polling, and both agree.",
    "A paused run expires after ten minutes if nobody answers its tool calls.",
    "Markdown headings, lists and code blocks all have to render while text arrives.",
    "The benchmark replays this document to measure tokens per second end to end.",
    "Quiet defaults matter: nothing may print over the interface while it runs.",
]

_LIST_ITEMS = [
    "open a new thread with one key",
    "send a message and watch the reply stream",
    "cancel a run halfway and keep the partial text",
    "switch assistants without leaving the keyboard",
    "search old threads by their cached text",
    "copy a code block straight from the reply",
    "follow tool calls in the activity pane",
    "retry a failed message from the composer",
    "resize the window while text is arriving",
    "compare polling and streaming on the same thread",
    "read the usage of every finished run",
    "start the local server for offline work",
]

_CODE_BLOCKS = {
    2: (
        "python",
        """import asyncio


async def follow(run_events):
    \"\"\"Print a run's text as it arrives and return the whole reply.\"\"\"
    parts = []
    async for event in run_events:
        if event.kind == "text":
            parts.append(event.text)
            print(event.text, end="", flush=True)
        elif event.kind == "finished":
            break
    return "".join(parts)


if __name__ == "__main__":
    asyncio.run(follow(demo_events()))
""",
    ),
    6: (
        "bash",
        """# start the local server and point a client at it
tui-assistant serve --port 8080 &
export OPENAI_BASE_URL=http://127.0.0.1:8080/v1
export OPENAI_API_KEY=anything
curl -s $OPENAI_BASE_URL/assistants | python -m json.tool
""",
    ),
    10: (
        "json",
        """{
  "event": "thread.message.delta",
  "data": {
    "id": "msg_example",
    "object": "thread.message.delta",
    "delta": {
      "content": [
        {"index": 0, "type": "text", "text": {"value": "Hello ", "annotations": []}}
      ]
    }
  }
}
""",
    ),
}


def _paragraph(start: int, count: int) -> str:
    return " ".join(_SENTENCES[(start + i) % len(_SENTENCES)] for i in range(count))


@cache
def long_document() -> str:
    """The long demo document: exactly ``LONG_TOKENS`` tokens, three fenced code blocks."""
    parts = [
        "# A field guide to tui-assistant\n",
        _paragraph(0, 5) + "\n",
    ]
    for number, title in enumerate(_SECTIONS):
        parts.append(f"## {number + 1}. {title}\n")
        parts.append(_paragraph(number * 5 + 1, 6) + "\n")
        items = [_LIST_ITEMS[(number * 3 + i) % len(_LIST_ITEMS)] for i in range(4)]
        bullet = "1." if number % 2 else "-"
        parts.append("\n".join(f"{bullet} Try to {item}." for item in items) + "\n")
        parts.append(_paragraph(number * 7 + 3, 7) + "\n")
        if number in _CODE_BLOCKS:
            language, code = _CODE_BLOCKS[number]
            parts.append(f"```{language}\n{code}```\n")
            parts.append(_paragraph(number * 11 + 2, 3) + "\n")
        parts.append(_paragraph(number * 13 + 5, 5) + "\n")
    parts.append("## Closing notes\n")
    body = "\n".join(parts) + "\n"
    missing = LONG_TOKENS - len(_TOKEN_RE.findall(body))
    if missing <= 0:  # pragma: no cover - the texts above are sized to leave room
        raise RuntimeError("the long demo document is too long")
    filler = " ".join(_SENTENCES).split()
    words = [filler[i % len(filler)] for i in range(missing)]
    words[-1] = words[-1].rstrip(".,") + "."
    text = body + " ".join(words) + "\n"
    assert len(_TOKEN_RE.findall(text)) == LONG_TOKENS
    return text
