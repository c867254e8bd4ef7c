"""Stored text made safe to show: one line, control characters escaped, long values cut."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

# Cut a value shown to people at this many characters; the report keeps it whole in details.
SHOWN_LIMIT = 200


def _unsafe(char: str) -> bool:
    """Whether a character could move a cursor, end a line, or hide text on a terminal or in SQL."""
    # Cc: control characters (ESC, BEL, CR, LF, ...); Cf: invisible format characters
    # (bidirectional overrides); Zl/Zp: line and paragraph separators; Cs: lone surrogates.
    return unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp", "Cs")


def escaped(text: str) -> str:
    """Every unsafe character written as a Python escape (\\n, \\x1b, \\u202e), the rest as is."""
    if not any(_unsafe(char) for char in text):
        return text
    return "".join(char.encode("unicode_escape").decode("ascii") if _unsafe(char) else char
                   for char in text)


def cut(text: str, limit: int = SHOWN_LIMIT) -> str:
    """At most limit characters, saying how many were left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}...(+{len(text) - limit} characters)"


def shown(value: object, limit: int = SHOWN_LIMIT) -> str:
    """A stored value as a person should see it in one line: escaped, then cut."""
    return cut(escaped(str(value)), limit)


def one_line(text: str, limit: int | None = None) -> str:
    """Text as one line (line breaks and other unsafe characters escaped); cut when limit is given."""
    flat = escaped(text)
    return cut(flat, limit) if limit is not None else flat


def has_unsafe(text: str) -> bool:
    """Whether text holds a character escaped() would rewrite."""
    return any(_unsafe(char) for char in text)


def redacted(text: str, secrets: Iterable[str], shortest: int = 4) -> str:
    """Text with every secret value replaced by ***, the longest first."""
    for secret in sorted(set(secrets), key=len, reverse=True):
        if len(secret) >= shortest:  # Shorter values would blank out ordinary words.
            text = text.replace(secret, "***")
    return text
