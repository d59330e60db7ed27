"""Source nested deeper than the scanner reads is refused before libcst sees it.

libcst's native parser overflows the C stack on a few thousand levels of nesting: a segmentation fault
that kills prebuild, not an exception. Its Python side (node validation, code generation for positions)
runs out of recursion at a few hundred levels. Python itself compiles up to ~3,000 levels, so a file
Python accepts could take prebuild down. Real code stays far below :data:`MAX_DEPTH` levels, which is
what prebuild reads; deeper source gets PKU001 saying how to fix it.

Two measures, each run only on files a count of bytes cannot clear:

- CPython's symtable pass, with a recursion budget. It parses the file with the C parser (which refuses
  more than 200 nested brackets cleanly) and walks the whole syntax tree, raising RecursionError past the
  budget. It builds no Python objects, so it costs about 7% of a libcst parse.
- Chains that CPython keeps flat but libcst nests one node per link: ``a and b or c ...`` and implicitly
  concatenated string literals (``"a" "b" "c" ...``), counted on Python's own tokens.
"""

from __future__ import annotations

import io
import re
import symtable
import sys
import tokenize
import warnings
from types import FrameType

from pikku.cli.model import Diagnostic, Location
from pikku.cli.scan import diagnostics as codes
from pikku.cli.scan.diagnostics import diagnostic

#: The deepest nesting prebuild reads (CPython's parser stops brackets at 200 already).
MAX_DEPTH = 300
# symtable counts three levels of syntax tree per level of Python's recursion limit; the budget also
# covers the blocks and statements around the deepest expression (30 levels: a def in a class in ...).
_LEVELS_PER_FRAME = 3
_BUDGET_FRAMES = (MAX_DEPTH + 30) // _LEVELS_PER_FRAME
# Every level of nesting needs one of these bytes (brackets, dots, operators, quotes, the colon of a
# lambda) or one of these words, so a file with fewer than MAX_DEPTH of them in all cannot be too deep.
_NESTING_BYTES = tuple(bytes([b]) for b in b"([{.+-*/%@<>=&|^~!'\":")
_NESTING_WORDS = (b"and", b"or", b"not", b"lambda", b"if", b"await", b"yield")
# Upper bounds of the chains' links: every 'and'/'or' word, every quote that may close one literal
# and open the next (also counts '' and triple quotes, which is fine for a bound).
_BOOLEAN_WORD = re.compile(rb"\b(?:and|or)\b")
_ADJACENT_QUOTES = re.compile(rb"""['"][ \t]*(?:\\?\r?\n[ \t]*)?[rRbBuUfF]{0,2}['"]""")
_FIX = "split the expression: name its parts, or build long chains from a list (''.join(...), all(...), any(...))"


def too_deep(file: str, source: bytes) -> Diagnostic | None:
    """PKU001 when ``source`` nests deeper than prebuild reads, else None (ordinary syntax errors included:
    libcst reports those with its own place and message)."""
    if sum(map(source.count, _NESTING_BYTES)) + sum(map(source.count, _NESTING_WORDS)) < MAX_DEPTH:
        return None
    return _tree_too_deep(file, source) or _chain_too_long(file, source)


def nested_too_deeply(file: str) -> Diagnostic:
    """PKU001 for a file whose nesting ran the scanner out of recursion (what :func:`too_deep` let pass)."""
    return _problem(Location(file, 1, 1), f"it nests expressions more than {MAX_DEPTH} levels deep")


def _tree_too_deep(file: str, source: bytes) -> Diagnostic | None:
    """The symtable pass with a budget of MAX_DEPTH levels (the process's recursion limit is restored)."""
    limit = sys.getrecursionlimit()
    # prebuild is one thread; the limit is lowered only for this call into C, which runs no Python code.
    sys.setrecursionlimit(_frames_in_use() + _BUDGET_FRAMES)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escapes and the like are not this check's business
            symtable.symtable(source, file, "exec")  # type: ignore[arg-type]  # bytes: PEP 263 decoding
    except SyntaxError as exc:
        if "too many nested" not in (exc.msg or ""):
            return None
        return _problem(Location(file, exc.lineno or 1, exc.offset or 1), f"{exc.msg} (Python allows 200 levels)")
    except (RecursionError, MemoryError):
        return nested_too_deeply(file)
    except ValueError:  # bad bytes: libcst's parse reports them
        return None
    finally:
        sys.setrecursionlimit(limit)
    return None


def _chain_too_long(file: str, source: bytes) -> Diagnostic | None:
    booleans = len(_BOOLEAN_WORD.findall(source)) >= MAX_DEPTH
    strings = len(_ADJACENT_QUOTES.findall(source)) >= MAX_DEPTH
    if not (booleans or strings):
        return None
    found = _longest_chain(source, booleans, strings)
    if found is None:
        return None
    line, what = found
    return _problem(Location(file, line, 1), f"it chains more than {MAX_DEPTH} {what} in one expression")


def _longest_chain(source: bytes, booleans: bool, strings: bool) -> tuple[int, str] | None:
    """(line, what) of the first statement with MAX_DEPTH 'and'/'or' words, or of MAX_DEPTH adjacent string
    literals, on Python's tokens; None when there is none (or the file does not tokenize)."""
    words = literals = 0
    start = 1
    try:
        for tok in tokenize.tokenize(io.BytesIO(source).readline):
            if tok.type in (tokenize.NL, tokenize.COMMENT):
                continue
            if tok.type == tokenize.NEWLINE:
                words, start = 0, tok.end[0] + 1
            words += booleans and tok.type == tokenize.NAME and tok.string in ("and", "or")
            literals = literals + 1 if strings and tok.type == tokenize.STRING else 0
            if words >= MAX_DEPTH:
                return start, "'and'/'or' operators"
            if literals >= MAX_DEPTH:
                return tok.start[0], "adjacent string literals"
    except (tokenize.TokenError, SyntaxError, UnicodeDecodeError):
        return None  # libcst's parse reports what is wrong with the file
    return None


def _frames_in_use() -> int:
    frame: FrameType | None = sys._getframe()
    depth = 0
    while frame is not None:
        frame, depth = frame.f_back, depth + 1
    return depth


def _problem(where: Location, detail: str) -> Diagnostic:
    return diagnostic(codes.SYNTAX_ERROR, where, f"{where.file} does not parse: {detail}", _FIX)
