"""File search for the local server: paragraphs ranked by BM25, scores between 0 and 1.

Each text file is cut into passages at blank lines; a paragraph longer than
``MAX_PASSAGE_WORDS`` words is cut further into windows of that many words. The query
and passages are reduced to lower-case words without stop words, with a light plural
rule (``files`` matches ``file``).

A passage's score is its BM25 score (k1 = 1.2, b = 0.75, idf = ln(1 + (N − n + ½)/(n + ½))
over all passages searched) divided by the largest score any passage could reach for this
query, ``Σ idf(t)·(k1 + 1)`` over the query's distinct terms. So the score is in [0, 1):
it grows with how many of the query's words a passage has (rare words count more) and how
often, and a passage without any of them scores 0 and is never returned. Scores are
rounded to four decimals; ties keep the files' order and the passages' order in a file.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from tui_assistant.server.demo import STOPWORDS

K1 = 1.2
B = 0.75
MAX_PASSAGE_WORDS = 120
DEFAULT_MAX_RESULTS = 20
DEFAULT_RANKER = "default_2024_08_21"

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
_BLANK_LINES = re.compile(r"\n\s*\n")


@dataclass(frozen=True, slots=True)
class SearchFile:
    file_id: str
    file_name: str
    text: str


@dataclass(frozen=True, slots=True)
class Passage:
    file_id: str
    file_name: str
    text: str
    score: float


def terms(text: str) -> list[str]:
    """The searchable words of ``text``, normalised."""
    found = []
    for word in _WORD.findall(text.lower()):
        word = word.replace("’", "'")
        if word.endswith("'s"):
            word = word[:-2]
        if word in STOPWORDS or not word:
            continue
        if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        found.append(word)
    return found


def passages(text: str) -> list[str]:
    """``text`` cut into paragraphs, and long paragraphs into windows of words."""
    pieces = []
    for paragraph in _BLANK_LINES.split(text.replace("\r\n", "\n")):
        paragraph = paragraph.strip()
        if not paragraph:
            continue
        words = paragraph.split()
        if len(words) <= MAX_PASSAGE_WORDS:
            pieces.append(paragraph)
            continue
        for start in range(0, len(words), MAX_PASSAGE_WORDS):
            pieces.append(" ".join(words[start : start + MAX_PASSAGE_WORDS]))
    return pieces


def search(
    files: Iterable[SearchFile],
    query: str,
    *,
    max_results: int = DEFAULT_MAX_RESULTS,
    score_threshold: float = 0.0,
) -> list[Passage]:
    """The passages of ``files`` that match ``query``, best first."""
    query_terms = list(dict.fromkeys(terms(query)))
    if not query_terms:
        return []
    docs: list[tuple[SearchFile, str, Counter[str], int]] = []
    for file in files:
        for passage in passages(file.text):
            words = terms(passage)
            docs.append((file, passage, Counter(words), len(words)))
    if not docs:
        return []
    count = len(docs)
    average = sum(length for *_, length in docs) / count or 1.0
    idf = {}
    for term in query_terms:
        having = sum(1 for _, _, counts, _ in docs if term in counts)
        idf[term] = math.log(1 + (count - having + 0.5) / (having + 0.5))
    ceiling = sum(idf[t] * (K1 + 1) for t in query_terms)
    scored = []
    for order, (file, passage, counts, length) in enumerate(docs):
        raw = 0.0
        norm = K1 * (1 - B + B * length / average)
        for term in query_terms:
            tf = counts.get(term, 0)
            if tf:
                raw += idf[term] * tf * (K1 + 1) / (tf + norm)
        if raw <= 0:
            continue
        score = round(min(raw / ceiling, 1.0), 4)
        if score < score_threshold:
            continue
        scored.append((-score, order, Passage(file.file_id, file.file_name, passage, score)))
    scored.sort(key=lambda item: (item[0], item[1]))
    return [passage for *_, passage in scored[:max_results]]
