"""Helpers for the pipeline-language tests: documents with a position marker, and error extraction."""

from __future__ import annotations

import textwrap
from typing import Any

import pytest

from apps.pipelines.spec import SpecError, SpecIssue, parse_pipeline

MARK = "»"

HEADER = """\
apiVersion: ansflow/v1
kind: Pipeline
metadata: {name: demo}
"""


def doc(body: str) -> str:
    """A document: the fixed header plus ``body`` (dedented), which starts with ``spec:``."""
    return HEADER + textwrap.dedent(body).lstrip("\n")


def locate(text: str) -> tuple[str, int, int]:
    """Remove the single » marker and return the text with the 1-based line and column where it was."""
    assert text.count(MARK) == 1, "exactly one marker expected"
    index = text.index(MARK)
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return text.replace(MARK, ""), line, column


def errors(text: str | bytes, **kwargs: Any) -> list[SpecIssue]:
    with pytest.raises(SpecError) as caught:
        parse_pipeline(text, **kwargs)
    assert caught.value.errors, "a SpecError always carries issues"
    return caught.value.errors


def parse(body: str, **kwargs: Any) -> dict[str, Any]:
    return parse_pipeline(doc(body), **kwargs)


def assert_error_at(marked: str, path: str, message: str) -> None:
    """Parsing ``marked`` (with one » marker) reports an error at ``path`` containing ``message``, located
    at the marker."""
    text, line, column = locate(marked)
    found = errors(text)
    matching = [e for e in found if e.path == path and message in e.message]
    assert matching, f"no error at {path!r} containing {message!r}; got:\n" + "\n".join(map(str, found))
    assert (matching[0].line, matching[0].column) == (line, column), str(matching[0])
