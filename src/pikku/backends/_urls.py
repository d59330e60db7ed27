"""Filesystem paths out of backend URLs (``file://`` and ``sqlite://``).

Conventions (the same as SQLAlchemy's for SQLite):

* ``sqlite:///rel/x.db`` is relative to the current directory, ``sqlite:////abs/x.db`` is absolute: the
  path is everything after ``sqlite:///``.
* ``file://rel/dir`` is relative, ``file:///abs/dir`` is absolute: the path is everything after ``file://``.

A query string (``?...``) or fragment is ignored, ``~`` is expanded, nothing is percent-decoded. This
module only parses: it creates no files or directories.
"""

from __future__ import annotations

from pathlib import Path

from pikku._errors import BackendURLError

_EXAMPLES = {
    "sqlite": "sqlite:///relative/pikku.sqlite3 or sqlite:////absolute/pikku.sqlite3",
    "file": "file://relative/dir or file:///absolute/dir",
}


def path_from_url(url: str) -> Path:
    """The filesystem path a ``file://`` or ``sqlite:///`` URL names; BackendURLError when it names none."""
    scheme, sep, rest = url.partition("://")
    base = scheme.split("+", 1)[0].lower()
    if not sep or base not in _EXAMPLES:
        raise BackendURLError(
            f"{url!r} is not a file or sqlite URL", hint=f"use {_EXAMPLES['sqlite']}, or {_EXAMPLES['file']}"
        )
    hint = f"write it as {_EXAMPLES[base]}"
    rest = rest.split("?", 1)[0].split("#", 1)[0]
    if base == "sqlite":
        if not rest.startswith("/"):
            raise BackendURLError(f"{url!r} names no database file (sqlite URLs need three slashes)", hint=hint)
        rest = rest[1:]
        if rest == ":memory:":
            raise BackendURLError(f"{url!r}: in-memory SQLite cannot be shared", hint="use memory:// instead")
    if not rest.strip() or "\x00" in rest:
        raise BackendURLError(f"{url!r} names no path", hint=hint)
    return Path(rest).expanduser()
