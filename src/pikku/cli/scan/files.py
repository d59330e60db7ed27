"""Which files make up the project, and the dotted module each one is."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path, PurePosixPath

from pikku._errors import ConfigError

# Directories that never hold user source: caches, virtualenvs, VCS data, generated output.
_SKIP_DIRS = frozenset({"__pycache__", "node_modules", "site-packages"})


def find_source_files(root: Path, sources: Sequence[str]) -> list[Path]:
    """All ``.py`` files under each source (a path or dotted package relative to root), sorted, unique."""
    found: set[Path] = set()
    for source in sources:
        found.update(_walk(_source_path(root, source)))
    return sorted(found, key=lambda p: relative_file(root, p))


def relative_file(root: Path, path: Path) -> str:
    """The POSIX path of ``path`` relative to ``root``, as diagnostics and facts record it."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:  # one of them was given through a symlink or as a relative path
        return path.resolve().relative_to(root.resolve()).as_posix()


def module_name(file: str) -> str:
    """``a/b/c.py`` -> ``a.b.c``; ``a/b/__init__.py`` -> ``a.b`` (the package itself)."""
    parts = PurePosixPath(file).with_suffix("").parts
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def is_package_file(file: str) -> bool:
    """True for ``__init__.py``: relative imports there are relative to the package itself."""
    return PurePosixPath(file).name == "__init__.py"


def _source_path(root: Path, source: str) -> Path:
    # A source may be written as a path ("example_app", "src/app") or a dotted package ("example_app.flows").
    candidates = [root / source, root / source.replace(".", "/"), root / (source.replace(".", "/") + ".py")]
    for candidate in candidates:
        if candidate.exists():
            return candidate
    raise ConfigError(
        f"source {source!r} does not exist under {root}",
        hint="list existing package directories in [tool.pikku] source",
    )


def _walk(path: Path) -> Iterator[Path]:
    if path.is_file():
        if path.suffix == ".py":
            yield path
        return
    for child in sorted(path.iterdir()):
        if child.is_dir():
            # Symlinked directories are skipped: they can loop, and their files live elsewhere anyway.
            if not child.name.startswith(".") and child.name not in _SKIP_DIRS and not child.is_symlink():
                yield from _walk(child)
        elif child.suffix == ".py":
            yield child
