"""Writing generated files: only what changed, removing generated files that are no longer produced,
and the exact comparison behind ``pikku prebuild --check``.

Prebuild only ever removes files it wrote itself: regular ``.py`` files under the generated package
whose first line is the generated header. Anything else there (a user's JSON, a file without the
header, a symlink, a FIFO) is left alone, and the folders written to must lie inside the project.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from pikku._config import PikkuConfig
from pikku._errors import ConfigError
from pikku.cli.render import HEADER, is_dotted, package_path

_HEADER = HEADER.encode("utf-8")


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


def check_target(config: PikkuConfig) -> None:
    """Raise ConfigError unless ``package`` is a dotted identifier and the output lies inside the project.

    The folders are resolved (symlinks followed) before the comparison: a generated package reached
    through a link to somewhere else would be written, and cleaned, outside the project.
    """
    where = f"{config.root / 'pyproject.toml'}: [tool.pikku]"
    if not is_dotted(config.package):
        raise ConfigError(
            f"{where} package {config.package!r} is not a dotted Python identifier",
            hint='name the generated package like a Python module, e.g. package = "pikku_gen" or "myapp.gen"',
        )
    root = config.root.resolve()
    for label, folder in (("output", config.output_dir), ("package", package_dir(config))):
        resolved = folder.resolve()
        if not resolved.is_relative_to(root):
            raise ConfigError(
                f"{where} {label} {folder} resolves to {resolved}, outside the project folder {root}",
                hint='keep generated code inside the project, e.g. output = ".pikku" (and no symlink out of it)',
            )


def package_dir(config: PikkuConfig) -> Path:
    """The folder of the generated package (``<output>/a/b`` for package ``a.b``)."""
    return config.output_dir / package_path(config.package)


def plan(output_dir: Path, package: str, files: dict[str, str]) -> Plan:
    """Compare rendered ``files`` with what is on disk under ``output_dir``."""
    result = Plan()
    inside = (output_dir / package_path(package)).resolve()
    for rel, content in files.items():
        _check_inside(output_dir / rel, inside)
        current = _read_text(output_dir / rel)
        if current is None and not os.path.lexists(output_dir / rel):
            result.create.append(rel)
        elif current != content:
            result.update.append(rel)
    for path in _generated_files(output_dir / package_path(package)):
        rel = path.relative_to(output_dir).as_posix()
        if rel not in files:
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
        path = output_dir / rel
        if _is_generated(path):  # checked again: the file may have changed since the plan was made
            path.unlink()


def _check_inside(path: Path, package: Path) -> None:
    """Raise ConfigError when a folder on the way to ``path`` is a symlink leading out of the package."""
    folder = path.parent.resolve()
    if not folder.is_relative_to(package):
        raise ConfigError(
            f"{path.parent} leads to {folder}, outside the generated package {package}",
            hint="remove the symlink: prebuild writes only inside the generated package",
        )


def _read_text(path: Path) -> str | None:
    """The text of a regular file, or None when there is none (or it is not UTF-8: it gets rewritten)."""
    if not _is_regular(path):
        return None
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _generated_files(package_dir: Path) -> list[Path]:
    """Files under ``package_dir`` that prebuild wrote (see :func:`_is_generated`); symlinks not followed."""
    if not package_dir.is_dir() or package_dir.is_symlink():
        return []
    found: list[Path] = []
    for folder, dirs, names in os.walk(package_dir):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        found += [Path(folder, name) for name in sorted(names) if _is_generated(Path(folder, name))]
    return found


def _is_generated(path: Path) -> bool:
    """A regular ``.py`` file whose first line is the generated header (read without following links)."""
    if path.suffix != ".py" or not _is_regular(path):
        return False
    try:
        with path.open("rb") as fh:
            first = fh.read(len(_HEADER) + 1)
    except OSError:
        return False
    # "\r" too: a checkout may have turned the line ends into CRLF.
    return first[: len(_HEADER)] == _HEADER and first[len(_HEADER) :] in (b"\n", b"\r")


def _is_regular(path: Path) -> bool:
    # lstat: a symlink is not followed, and a FIFO or device is never opened (opening a FIFO blocks).
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False
