"""Footnotes for annotations, local file names, attachment defaults (no UI)."""

from __future__ import annotations

from pathlib import Path

from tui_assistant import paths
from tui_assistant.events import Annotation
from tui_assistant.files import (
    FileRef,
    default_attachment_tools,
    footnote,
    image_path,
    safe_filename,
)


def cite(text: str, body: str, file_id: str, kind: str = "file_citation") -> Annotation:
    start = body.index(text)
    return Annotation(kind, text, start, start + len(text), file_id)


def test_citations_and_generated_files_become_numbered_footnotes():
    body = (
        "Launch is March 3【4:0†source】. Budget 10k【4:1†source】. "
        "Chart: sandbox:/mnt/data/chart.png. Again【4:2†source】."
    )
    annotations = [
        cite("【4:0†source】", body, "file-notes"),
        cite("【4:1†source】", body, "file-budget"),
        cite("sandbox:/mnt/data/chart.png", body, "file-chart", "file_path"),
        cite("【4:2†source】", body, "file-notes"),
    ]
    result = footnote(body, annotations, {"file-notes": "notes.md"})
    assert result.text == "Launch is March 3[1]. Budget 10k[2]. Chart: [3]. Again[1]."
    assert result.refs == (
        FileRef("file-notes", "citation", "notes.md", 1),
        FileRef("file-budget", "citation", "", 2),
        FileRef("file-chart", "file", "chart.png", 3),
    )
    assert result.markdown() == (
        "Launch is March 3[1]. Budget 10k[2]. Chart: [3]. Again[1].\n\n"
        "- [1] notes.md (cited)\n"
        "- [2] file-budget (cited)\n"
        "- [3] chart.png (generated file)"
    )


def test_offsets_that_do_not_match_are_found_by_text():
    body = "Alpha 【1†s】 beta 【2†s】"
    shifted = [
        Annotation("file_citation", "【1†s】", 0, 3, "file-1"),  # wrong offsets
        Annotation("file_citation", "【2†s】", 100, 120, "file-2"),  # out of range
        Annotation("file_citation", "【9†s】", 0, 0, "file-9"),  # not in the text at all
    ]
    result = footnote(body, shifted)
    assert result.text == "Alpha [1] beta [2]"
    assert [ref.number for ref in result.refs] == [1, 2, 3]  # the lost one is still listed


def test_without_annotations_the_text_is_unchanged():
    result = footnote("plain", [])
    assert result.text == "plain" and result.markdown() == "plain" and not result.refs


def test_safe_filename_and_image_path():
    assert safe_filename("../../etc/passwd") == "passwd"
    assert safe_filename("my report (final).pdf") == "my_report_final_.pdf"
    assert safe_filename("...") == "file"
    path = image_path("file-abc/../x")
    assert path.parent == paths.files_dir() / "images" and path.parent.is_dir()
    assert path.name == "x.png"


def test_default_attachment_tools():
    assert default_attachment_tools(Path("sales.CSV")) == ["code_interpreter"]
    assert default_attachment_tools("script.py") == ["code_interpreter"]
    assert default_attachment_tools("notes.md") == ["file_search"]
    assert default_attachment_tools("paper.pdf") == ["file_search"]
