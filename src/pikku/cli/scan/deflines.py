"""Lines of the module-level ``def`` statements, read straight from the source bytes.

Every module has defs to locate, and a module-level def always starts at column 1 of the line holding its
``def`` (or ``async``) keyword, so only that line is needed. Such a line is one that starts with ``def``
outside any string literal: inside brackets or after a backslash a ``def`` would not be valid Python, and
comments end at the line's end. So one regex pass that skips comments and string literals finds them,
at about 1% of the cost of any parser. It reads the text the way Python's tokenizer does; the one thing
that needs more than a regex is a formatted string, whose ``{...}`` fields may hold the string's own quote
since Python 3.12. Those are read field by field, and any string this reading cannot follow for certain
makes the result unknown (None), so the caller uses a real parser; the caller also checks the names
found against libcst's defs.
"""

from __future__ import annotations

import bisect
import re

# Comments and string literals. Every branch starts with "#" or a quote and nothing is captured, which
# lets the regex engine jump from one such character to the next (named groups, or a pattern that also
# looked for defs, made it 3-10x slower). The last branch, a lone quote, is an unterminated string.
_STRINGS = re.compile(
    rb"""
      \#[^\r\n]*+
    | \"\"\"(?:[^"\\]++|\\.|"(?!""))*+\"\"\" | '''(?:[^'\\]++|\\.|'(?!''))*+'''
    | "(?:[^"\\\r\n]++|\\(?:\r\n|.))*+" | '(?:[^'\\\r\n]++|\\(?:\r\n|.))*+'
    | ["']
    """,
    re.DOTALL | re.VERBOSE,
)
# A def at the start of a line (the text searched starts with an extra newline, for a def on line 1).
_DEFS = re.compile(rb"\n(?:async[ \t]+)?def[ \t]+([^\s(\[]+)")
# String prefixes are at most two letters; an f or t among them makes a formatted string (f-/t-string).
_FORMATTED_PREFIX = frozenset(b"fFtT")
_QUOTES = frozenset(b"'\"")
_TRIPLE_QUOTES = (b'"""', b"'''")
_NOT_SIMPLE = (b"'", b'"', b"\\", b"#", b"{{", b"}}")
_HASH = ord("#")
_OPEN, _CLOSE, _BACKSLASH, _COLON = ord("{"), ord("}"), ord("\\"), ord(":")
# Per open field on the reading stack: the bracket depth inside its expression, or _SPEC in its format spec.
_SPEC = -1


def def_lines(source: bytes) -> list[tuple[bytes, int]] | None:
    """``(name, line)`` of each module-level def in source order, or None when the text is not certain.

    ``source`` must be in an encoding where ASCII bytes only ever stand for ASCII characters (UTF-8).
    """
    spans = _multiline_strings(source)
    if spans is None:
        return None
    starts = [start for start, _ in spans]
    found: list[tuple[bytes, int]] = []
    line, counted_to = 1, 0
    for match in _DEFS.finditer(b"\n" + source):
        at = match.start()  # where the def's line starts in ``source`` (the searched text is one longer)
        inside = bisect.bisect_right(starts, at)
        if inside and spans[inside - 1][1] > at:
            continue  # a line of a string that spans lines
        line += source.count(b"\n", counted_to, at)
        counted_to = at
        found.append((match.group(1), line))
    return found


def _multiline_strings(source: bytes) -> list[tuple[int, int]] | None:
    """``(start, end)`` of each string literal spanning lines, in order; None when the reading is not certain."""
    spans: list[tuple[int, int]] = []
    for match in _STRINGS.finditer(source):
        text = match.group()
        if text[0] == _HASH:
            continue
        if len(text) == 1:  # an unterminated string: only a misread of an earlier f-string can cause it
            return None
        quotes = 3 if len(text) >= 6 and text[:3] in _TRIPLE_QUOTES else 1
        if not _plain_reading_holds(source, match.start(), text[quotes:-quotes]):
            return None
        if b"\n" in text:
            spans.append(match.span())
    return spans


def _plain_reading_holds(source: bytes, start: int, body: bytes) -> bool:
    """False when the string at ``start`` may be a formatted string that ends later than it seems to."""
    if not _is_formatted(source, start):
        return True  # plain strings end at their first unescaped closing quote in every Python version
    if b"{" not in body and b"}" not in body:
        return True  # no fields: read like a plain string
    # Since 3.12 a field may hold the string's own quote; the quote found then opens a nested string
    # inside a field instead of ending this one. It ends this one when every field is closed before it.
    if not any(text in body for text in _NOT_SIMPLE):
        # Without strings, comments or escapes in it, every brace belongs to a field or to a bracket
        # inside one, so balanced braces mean all fields are closed (the common case, read fast).
        return body.count(b"{") == body.count(b"}")
    return _fields_closed(body)


def _is_formatted(text: bytes, quote_at: int) -> bool:
    return not _FORMATTED_PREFIX.isdisjoint(text[max(quote_at - 2, 0) : quote_at])


def _fields_closed(body: bytes) -> bool:
    """True when every ``{...}`` field of a formatted string's body closes within it, read as Python reads it.

    Anything this short reading does not follow exactly (comments or backslashes in fields, nested
    f-strings or triple quotes, quotes in a format spec) answers False, so the caller uses a parser.
    """
    stack: list[int] = []
    i, size = 0, len(body)
    while i < size:
        char = body[i]
        if not stack:
            i = _literal_step(body, i, stack)
        elif stack[-1] == _SPEC:
            i = _spec_step(char, i, stack)
        elif char in _QUOTES:
            i = _nested_string_end(body, i)
        else:
            i = _expression_step(char, i, stack)
        if i < 0:
            return False
    return not stack


def _literal_step(body: bytes, i: int, stack: list[int]) -> int:
    """Literal text: escapes and doubled braces are text; a single ``{`` opens a field."""
    char = body[i]
    if char == _BACKSLASH or (char in (_OPEN, _CLOSE) and body[i + 1 : i + 2] == bytes([char])):
        return i + 2
    if char == _CLOSE:
        return -1  # a lone "}" is not valid text: this is not the string it seemed to be
    if char == _OPEN:
        stack.append(0)
    return i + 1


def _spec_step(char: int, i: int, stack: list[int]) -> int:
    """A format spec: text in which ``{`` opens a nested field and ``}`` ends the field."""
    if char == _OPEN:
        stack.append(0)
    elif char == _CLOSE:
        stack.pop()
    elif char in _QUOTES or char in b"\\#":
        return -1
    return i + 1


def _expression_step(char: int, i: int, stack: list[int]) -> int:
    """A field's expression: brackets nest, ``:`` at its top starts the spec, ``}`` there ends the field."""
    depth = stack[-1]
    if char in b"\\#":
        return -1  # a line continuation or a comment (3.12): not followed here
    if char in b"([{":
        stack[-1] = depth + 1
    elif char in b")]}":
        if depth == 0 and char != _CLOSE:
            return -1
        if depth == 0:
            stack.pop()
        else:
            stack[-1] = depth - 1
    elif char == _COLON and depth == 0:
        stack[-1] = _SPEC
    return i + 1


def _nested_string_end(body: bytes, i: int) -> int:
    """Past a plain one-line string inside a field; -1 for the kinds this reading does not follow."""
    quote = body[i]
    if body[i : i + 3] == bytes([quote]) * 3 or _is_formatted(body, i):
        return -1
    end = body.find(quote, i + 1)
    if end < 0 or _BACKSLASH in body[i + 1 : end]:
        return -1
    return end + 1
