"""Line/column of a few chosen nodes, at a fraction of the cost of libcst's PositionProvider.

PositionProvider records a range for every node and splits every token with a regex: on the prebuild
bench (1,000 modules) a scanner placing every node through it takes 2.5x as long cold as this one
(bench/NOTES.md, "Positions: fast path or PositionProvider"). Extraction hands out placeholder locations
(line 0, column = ticket) and :meth:`Locator.resolver` gives the function that swaps in the real ones, so
extraction itself stays a single pass. The places come from the cheapest source that is certain, with
the same result whichever answers:

1. module-level defs: their lines read from the text (:mod:`pikku.cli.scan.deflines`), column 1;
2. calls, call arguments and annotations: the stdlib ``ast`` of the source (:mod:`pikku.cli.scan.astplaces`);
3. anything else, or whenever those cannot pair a node for sure: libcst's public PositionProvider, for
   the files that need it (f-string calls, form feeds, lone carriage returns: rare in real code).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from pikku.cli.model import Location
from pikku.cli.scan.astplaces import Place, ast_places
from pikku.cli.scan.deflines import def_lines

_UTF8 = frozenset({"utf-8", "utf-8-sig", "utf8"})
# The start of a line that may begin a module-level def, and the def's name (see _candidate_def_lines).
_DEF_CANDIDATES = re.compile(
    rb"^(?:\xef\xbb\xbf)?(?:async(?:[ \t]|\\\r?\n)+)?def(?:[ \t]|\\\r?\n)+([^\s(\[\\]+)", re.MULTILINE
)
# A line holding only a backslash continuation (after the byte order mark, on the first line).
_LINE_START_BACKSLASH = re.compile(rb"^(?:\xef\xbb\xbf)?[ \t]*\\\r?\n", re.MULTILINE)


class Locator:
    """Hands out placeholder locations for nodes of one file and resolves them all at once."""

    def __init__(self, file: str) -> None:
        self.file = file
        self._nodes: list[cst.CSTNode] = []

    def at(self, node: cst.CSTNode) -> Location:
        """A placeholder for ``node``'s position, valid until a :meth:`resolver` replaces it."""
        self._nodes.append(node)
        return Location(self.file, 0, len(self._nodes) - 1)

    def resolver(self, module: cst.Module, source: bytes) -> Callable[[Location], Location]:
        """A function turning each placeholder handed out so far into the real place.

        ``source`` is the text ``module`` was parsed from.
        """
        if not self._nodes:
            return _unchanged
        found = _fast_places(module, source, self._nodes)
        missing = [n for n in self._nodes if id(n) not in found]
        if missing:
            found.update(_locate(module, missing))
        # PositionProvider places every node of the tree; 1:1 is only a safety net for a node not in it.
        places = [found.get(id(n), (1, 1)) for n in self._nodes]
        file = self.file

        def resolve(location: Location) -> Location:
            if location.line != 0 or location.file != file:
                return location
            line, column = places[location.column]
            return Location(file, line, column)

        return resolve


def _unchanged(location: Location) -> Location:
    return location


def _fast_places(module: cst.Module, source: bytes, nodes: list[cst.CSTNode]) -> dict[int, Place]:
    """Places of the nodes that the text or ``ast`` can give for sure (steps 1 and 2 of the module doc)."""
    if _metadata_only(source):
        return {}
    found: dict[int, Place] = {}
    rest = nodes
    # ast pairs defs too: the text reading only pays off where it spares the parse (defs alone).
    if all(type(n) is cst.FunctionDef for n in nodes):
        found = _def_places(module, source, nodes)
        rest = [n for n in nodes if id(n) not in found]
    if rest:
        found.update(ast_places(module, source, rest))
    return found


def _metadata_only(source: bytes) -> bool:
    """True for the rare texts whose places libcst's metadata counts differently from ``ast``."""
    # libcst counts a form feed as a column and reads lone "\r" line ends its own way; ast and the
    # tokenizer disagree on both.
    if b"\x0c" in source or source.count(b"\r") != source.count(b"\r\n"):
        return True
    # libcst drops a backslash continuation that starts a line before a statement (its code is one line
    # shorter there), so every later place it reports is a line above the one in the text.
    return (b"\\\n" in source or b"\\\r\n" in source) and _LINE_START_BACKSLASH.search(source) is not None


def _def_places(module: cst.Module, source: bytes, nodes: list[cst.CSTNode]) -> dict[int, Place]:
    """Module-level defs at (line of their keyword, 1), when the text reading names exactly libcst's defs."""
    defs = [s for s in module.body if isinstance(s, cst.FunctionDef)]
    wanted = {id(n) for n in nodes}
    # The text is read as bytes: only sound where ASCII bytes never stand inside another character.
    if not any(id(d) in wanted for d in defs) or not (source.isascii() or module.encoding in _UTF8):
        return {}
    names = [d.name.value.encode() for d in defs]
    lines = _candidate_def_lines(source)
    if [name for name, _ in lines] != names:  # a def-like line in a string or comment: read carefully
        lines = def_lines(source) or []
    if [name for name, _ in lines] != names:
        return {}
    return {id(d): (line, 1) for d, (_, line) in zip(defs, lines, strict=True) if id(d) in wanted}


def _candidate_def_lines(source: bytes) -> list[tuple[bytes, int]]:
    """``(name, line)`` of every line that starts like a def, strings and comments not told apart.

    Every module-level def starts such a line (the texts where one would not, with form feeds, lone
    "\\r" or line-start backslashes, never get here), so when these name exactly libcst's defs in order
    they are those defs; a def-like line in a string or comment adds a name and so is never mistaken.
    About ten times cheaper than :func:`def_lines`, which tells strings apart.
    """
    found: list[tuple[bytes, int]] = []
    line, counted_to = 1, 0
    for match in _DEF_CANDIDATES.finditer(source):
        line += source.count(b"\n", counted_to, match.start())
        counted_to = match.start()
        found.append((match.group(1), line))
    return found


def _locate(module: cst.Module, nodes: list[cst.CSTNode]) -> dict[int, Place]:
    """Places of ``nodes`` from libcst's public PositionProvider (the fallback: it places every node)."""
    # unsafe_skip_copy keeps the node identities the placeholders refer to; nothing here mutates the tree.
    ranges = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    return {id(n): (ranges[n].start.line, ranges[n].start.column + 1) for n in nodes if n in ranges}
