"""Writing generated files: only what changed, removing generated files that are no longer produced,
and the exact comparison behind ``pikku prebuild --check``."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from pikku.cli.render import HEADER

# Files we created carry the header (py) or live at paths we always own.
_OWNED_SUFFIXES = (".py", ".json", ".typed")


@dataclass(slots=True)
class Plan:
    """What a write would do: files to create, to update, and stale generated files to delete."""

    create: list[str] = field(default_factory=list)
    update: list[str] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        """True when the output folder already matches exactly."""
        return not (self.create or self.update or self.delete)


def _generated_files(package_dir: Path) -> list[Path]:
    if not package_dir.is_dir():
        return []
    return [p for p in package_dir.rglob("*") if p.is_file() and p.suffix in _OWNED_SUFFIXES and _ours(p)]


def _ours(path: Path) -> bool:
    if path.suffix != ".py":
        return True
    with path.open(encoding="utf-8") as fh:
        return fh.readline().rstrip("\n") == HEADER


def plan(output_dir: Path, package: str, files: dict[str, str]) -> Plan:
    """Compare rendered ``files`` with what is on disk under ``output_dir``."""
    result = Plan()
    for rel, content in files.items():
        path = output_dir / rel
        if not path.exists():
            result.create.append(rel)
        elif path.read_text(encoding="utf-8") != content:
            result.update.append(rel)
    for path in _generated_files(output_dir / package):
        rel = path.relative_to(output_dir).as_posix()
        if rel not in files and "__pycache__" not in rel:
            result.delete.append(rel)
    result.delete.sort()
    return result


def apply(output_dir: Path, files: dict[str, str], todo: Plan) -> None:
    """Carry out a plan; each file is written atomically (temp file + rename)."""
    for rel in (*todo.create, *todo.update):
        path = output_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(files[rel], encoding="utf-8")
        os.replace(tmp, path)
    for rel in todo.delete:
        (output_dir / rel).unlink(missing_ok=True)
