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
  concatenated string literals (``"a" "b" "c" ...``), counted on Python's own tokens (per expression,
  and inside f-strings, which are one token before 3.12), and dotted import names (one string in CPython).
"""

from __future__ import annotations

import ast
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
#: Implicitly concatenated string literals libcst nests one per literal, but each level costs it less than
#: an operator: 600 read fine and ~1,000 ran out of recursion. A long SQL text written as 400 lines of
#: literals is real code, so strings get their own, higher limit.
MAX_ADJACENT_LITERALS = 500
# symtable counts three levels of syntax tree per level of Python's recursion limit; the budget also
# covers the blocks and statements around the deepest expression (30 levels: a def in a class in ...).
_LEVELS_PER_FRAME = 3
_BUDGET_FRAMES = (MAX_DEPTH + 30) // _LEVELS_PER_FRAME
_AST_FRAMES = 1000
# Every level of nesting needs one of these bytes (brackets, dots, operators, quotes, the colon of a
# lambda) or one of these words, so a file with fewer than MAX_DEPTH of them in all cannot be too deep.
_NESTING_BYTES = tuple(bytes([b]) for b in b"([{.+-*/%@<>=&|^~!'\":")
_NESTING_WORDS = (b"and", b"or", b"not", b"lambda", b"if", b"await", b"yield")
# Upper bounds of the chains' links: every 'and'/'or' word, every quote that may close one literal
# and open the next (also counts '' and triple quotes, which is fine for a bound).
_BOOLEAN_WORD = re.compile(rb"\b(?:and|or)\b")
_ADJACENT_QUOTES = re.compile(rb"""['"][ \t]*(?:\\?\r?\n[ \t]*)?[rRbBuUfF]{0,2}['"]""")
# A run of dotted segments on one logical line (a bound: a segment is anything but space, dot or backslash),
# found with a single greedy pass so the scan stays linear; only a run of MAX_DEPTH dots makes the tokens read.
_DOTTED_RUN = re.compile(rb"(?:\.[ \t]*(?:\\\r?\n[ \t]*)?[^\s.\\]+[ \t]*(?:\\\r?\n[ \t]*)?)+")
# Tokens that are not part of a statement (INDENT and DEDENT precede one, at its line).
_BETWEEN_STATEMENTS = (tokenize.NL, tokenize.COMMENT, tokenize.ENCODING, tokenize.INDENT, tokenize.DEDENT)
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
    except MemoryError:  # the C parser's own stack ran out
        return nested_too_deeply(file)
    except RecursionError:
        pass  # symtable counts an elif as a level (CPython nests it in the orelse): a second opinion below
    except ValueError:  # bad bytes: libcst's parse reports them
        return None
    else:
        return None
    finally:
        sys.setrecursionlimit(limit)
    return None if _elif_chains_only(source) else nested_too_deeply(file)


def _elif_chains_only(source: bytes) -> bool:
    """True when ``source`` nests no deeper than MAX_DEPTH (+ the statements around it) once each ``elif``
    counts as a sibling of its ``if``, as in the code (libcst reads thousands of them); False when it is
    deeper, or too deep for ``ast`` itself (which raises RecursionError or MemoryError, not a crash).
    Only called for what the symtable pass refused, so the objects ``ast`` builds cost nothing usually."""
    limit = sys.getrecursionlimit()
    # CPython's default budget (ast counts its C recursion against it): safe for the C stack even where the
    # process raised its limit, and deep enough for ~1,000 elifs.
    sys.setrecursionlimit(_frames_in_use() + _AST_FRAMES)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    finally:
        sys.setrecursionlimit(limit)
    budget = _BUDGET_FRAMES * _LEVELS_PER_FRAME
    stack: list[tuple[ast.AST, int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > budget:
            return False
        for child in ast.iter_child_nodes(node):
            is_elif = isinstance(node, ast.If) and isinstance(child, ast.If) and node.orelse == [child]
            stack.append((child, depth if is_elif else depth + 1))
    return True


def _chain_too_long(file: str, source: bytes) -> Diagnostic | None:
    booleans = len(_BOOLEAN_WORD.findall(source)) >= MAX_DEPTH
    strings = len(_ADJACENT_QUOTES.findall(source)) >= MAX_ADJACENT_LITERALS
    dots = source.count(b".") >= MAX_DEPTH and _has_dotted_run(source)
    if not (booleans or strings or dots):
        return None
    found = _longest_chain(source, booleans, strings, dots)
    if found is None:
        return None
    line, what = found
    limit = MAX_ADJACENT_LITERALS if what == "adjacent string literals" else MAX_DEPTH
    return _problem(Location(file, line, 1), f"it chains more than {limit} {what} in one expression")


def _has_dotted_run(source: bytes) -> bool:
    return any(
        run.end() - run.start() >= 2 * MAX_DEPTH and run.group().count(b".") >= MAX_DEPTH
        for run in _DOTTED_RUN.finditer(source)
    )


def _longest_chain(source: bytes, booleans: bool, strings: bool, dots: bool) -> tuple[int, str] | None:
    """(line, what) of the first statement with an expression of MAX_DEPTH 'and'/'or' words, of MAX_DEPTH
    adjacent string literals, or of a dotted name of MAX_DEPTH dots, on Python's tokens; None when there is
    none (or the file does not tokenize). Dotted names count because CPython keeps an import's ``a.b.c``
    as one string (the symtable pass never sees it), where libcst nests an Attribute per dot.
    """
    words = _Words()
    literals = chain = 0
    start = 0  # the line the statement in progress starts on (0: before its first token)
    try:
        # Python's tokenize splits lines at \n only; CPython (and libcst) also end one at a lone \r.
        lines = io.BytesIO(source.replace(b"\r\n", b"\n").replace(b"\r", b"\n"))
        for tok in tokenize.tokenize(lines.readline):
            if tok.type in _BETWEEN_STATEMENTS:
                continue
            if tok.type == tokenize.NEWLINE or (tok.type == tokenize.OP and tok.string == ";"):
                words, start, literals, chain = _Words(), 0, 0, 0
                continue
            start = start or tok.start[0]
            if booleans:
                words.feed(tok)
            literals = literals + 1 if strings and tok.type == tokenize.STRING else 0
            dotted = tok.type == tokenize.NAME or (tok.type == tokenize.OP and tok.string == ".")
            chain = chain + (tok.string == ".") if dots and dotted else 0
            if words.deepest() >= MAX_DEPTH:
                return start, "'and'/'or' operators"
            if literals >= MAX_ADJACENT_LITERALS:
                return tok.start[0], "adjacent string literals"
            if chain >= MAX_DEPTH:
                return tok.start[0], "dotted names"
    except (tokenize.TokenError, SyntaxError, UnicodeDecodeError):
        return None  # libcst's parse reports what is wrong with the file
    return None


class _Words:
    """'and'/'or' words of one statement, per expression: a comma ends one, a bracket opens a nested one
    whose words add to the enclosing expression's, also after it closes (an upper bound of libcst's depth).
    An f-string is one token before Python 3.12, so the words inside one are counted from its text."""

    def __init__(self) -> None:
        # Per open bracket: [the words of the expression in progress at that level, the most words of a
        # bracketed expression closed within it].
        self.levels = [[0, 0]]

    def feed(self, tok: tokenize.TokenInfo) -> None:
        if tok.type == tokenize.NAME and tok.string in ("and", "or"):
            self.levels[-1][0] += 1
        elif tok.type == tokenize.STRING and _is_fstring(tok.string):
            self.levels[-1][0] += len(_BOOLEAN_WORD.findall(tok.string.encode()))
        elif tok.type != tokenize.OP:
            return
        elif tok.string in "([{":
            self.levels.append([0, 0])
        elif tok.string in ")]}" and len(self.levels) > 1:
            closed = sum(self.levels.pop())
            self.levels[-1][1] = max(self.levels[-1][1], closed)
        elif tok.string == ",":
            self.levels[-1] = [0, 0]

    def deepest(self) -> int:
        return sum(own + inner for own, inner in self.levels)


def _is_fstring(token: str) -> bool:
    quote = min((i for i in (token.find("'"), token.find('"')) if i >= 0), default=0)
    return "f" in token[:quote].lower()


def _frames_in_use() -> int:
    frame: FrameType | None = sys._getframe()
    depth = 0
    while frame is not None:
        frame, depth = frame.f_back, depth + 1
    return depth


def _problem(where: Location, detail: str) -> Diagnostic:
    return diagnostic(codes.SYNTAX_ERROR, where, f"{where.file} does not parse: {detail}", _FIX)
