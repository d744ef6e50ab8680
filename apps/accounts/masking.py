"""Value-based secret masking for logs, API answers, admin pages and error messages.

Every occurrence of a secret becomes ``***``, and so do its base64 forms (standard and URL-safe,
at every byte alignment, so a secret inside a longer encoded blob such as a basic-auth header is
caught), its URL-encoded forms and each line of a multi-line secret. Fragments shorter than
``MIN_LENGTH`` characters are ignored: masking every "a" would make logs unreadable and reveal
nothing worth hiding. Overlapping occurrences are merged, so no part of any secret survives.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

MASK = "***"
MIN_LENGTH = 4


def _base64_forms(data: bytes) -> set[str]:
    forms: set[str] = set()
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        forms.add(encode(data).decode())
        forms.add(encode(data).decode().rstrip("="))
        # The same bytes at offset 1 and 2 inside a longer blob: keep only the characters
        # that depend on the secret's bytes alone.
        for offset in (1, 2):
            encoded = encode(b"\0" * offset + data).decode().rstrip("=")
            start = -(-offset * 8 // 6)
            end = (offset + len(data)) * 8 // 6
            forms.add(encoded[start:end])
    return forms


def variants(secret: str) -> set[str]:
    """Every form of ``secret`` that is masked (only those at least ``MIN_LENGTH`` long)."""
    if not secret or len(secret) < MIN_LENGTH:
        return set()
    forms = {secret, quote(secret, safe=""), quote_plus(secret), quote(secret)}
    stripped = secret.strip()
    if stripped != secret:
        forms.add(stripped)
    forms |= _base64_forms(secret.encode())
    if stripped != secret:
        forms |= _base64_forms(stripped.encode())
    for line in secret.splitlines():
        line = line.strip()
        forms.add(line)
        forms |= {quote(line, safe=""), *_base64_forms(line.encode())} if len(line) >= MIN_LENGTH else set()
    return {form for form in forms if len(form) >= MIN_LENGTH}


def patterns(secrets: Iterable[str]) -> list[str]:
    """All masked forms of ``secrets``, longest first."""
    forms: set[str] = set()
    for secret in secrets:
        if isinstance(secret, str):
            forms |= variants(secret)
    return sorted(forms, key=lambda form: (-len(form), form))


def _covered(text: str, forms: list[str]) -> list[tuple[int, int]]:
    """Merged [start, end) ranges of ``text`` covered by any occurrence of any form (overlaps included)."""
    spans: list[tuple[int, int]] = []
    for form in forms:
        start = text.find(form)
        while start != -1:
            spans.append((start, start + len(form)))
            start = text.find(form, start + 1)
    spans.sort()
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _apply(text: str, spans: list[tuple[int, int]]) -> str:
    out, position = [], 0
    for start, end in spans:
        out += [text[position:start], MASK]
        position = end
    out.append(text[position:])
    return "".join(out)


def mask(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every form of every secret replaced by ``***``."""
    if not text:
        return text
    forms = patterns(secrets)
    return _apply(text, _covered(text, forms)) if forms else text


def mask_data(value: object, secrets: Iterable[str]) -> object:
    """Masks every string inside nested dicts, lists and tuples (keys too)."""
    forms = patterns(secrets)
    if not forms:
        return value

    def walk(item: object) -> object:
        if isinstance(item, str):
            return _apply(item, _covered(item, forms))
        if isinstance(item, dict):
            return {walk(key): walk(val) for key, val in item.items()}
        if isinstance(item, (list, tuple)):
            return [walk(val) for val in item]
        return item

    return walk(value)


class StreamMasker:
    """Masks a stream of text chunks, catching a secret split across chunks.

    ``feed`` returns what is safe to emit now and holds back at most the longest form's length
    minus one character (more only while a match touches the boundary); ``flush`` emits the rest.
    """

    def __init__(self, secrets: Iterable[str]) -> None:
        self.forms = patterns(secrets)
        self.hold = max((len(form) for form in self.forms), default=1) - 1
        self.buffer = ""

    def feed(self, chunk: str) -> str:
        if not self.forms:
            return chunk
        self.buffer += chunk
        spans = _covered(self.buffer, self.forms)
        cut = max(0, len(self.buffer) - self.hold)
        # Never cut through a match: one that ends after the cut may still grow with the next chunk.
        for start, end in spans:
            if start < cut < end or (start < cut and end == len(self.buffer)):
                cut = start
                break
        emitted = _apply(self.buffer[:cut], [span for span in spans if span[1] <= cut])
        self.buffer = self.buffer[cut:]
        return emitted

    def flush(self) -> str:
        text, self.buffer = self.buffer, ""
        return _apply(text, _covered(text, self.forms)) if self.forms else text
