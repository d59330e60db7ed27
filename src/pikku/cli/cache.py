"""The cache of ``pikku prebuild``: per-file scan facts keyed by content, and the last rendered output.

Two files in ``<output folder's parent>/.pikku-cache/`` (gitignored):

``facts.json``
    ``{key: [digest, facts JSON]}`` for the files of the last run. The key hashes the scanner's
    ``FACTS_VERSION``, a fingerprint of pikku's own code generator (so editing the scanner, the renderer
    or a template never reuses old results), the file's project path and its bytes. An unchanged file is
    not parsed again; its facts come back through :meth:`FileFacts.from_json`.
``output.json``
    The rendered files, keyed by a hash of every file's facts and the package name. When nothing changed,
    the Jinja rendering is skipped too. Only output that compiled is kept, so prebuild compiles again
    only the generated files whose text differs from it.

The cache can only make prebuild faster, never different: every entry carries a digest of its own text,
and anything unreadable, mismatched or malformed is a miss (the file is scanned, the output rendered),
never an error. Writing is best effort (atomic replace; a read-only folder just means no cache).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from pikku.cli.model import Diagnostic
from pikku.cli.render import templates_dir
from pikku.cli.scan import FileFacts
from pikku.cli.scan.extract import unread_file
from pikku.cli.scan.facts import FACTS_VERSION
from pikku.cli.scan.files import read_source, relative_file
from pikku.cli.scan.parallel import scan_sources

CACHE_DIR = ".pikku-cache"
#: Layout version of the two cache files themselves (the facts inside have their own FACTS_VERSION).
#: 2: output.json holds only output that compiled (prebuild skips compiling files equal to it).
CACHE_FORMAT = 2

_FACTS_FILE = "facts.json"
_OUTPUT_FILE = "output.json"
_PIKKU_DIR = Path(__file__).resolve().parents[1]


def cache_dir(output_dir: Path) -> Path:
    """Where the cache of a project whose generated code goes to ``output_dir`` lives."""
    return output_dir.parent / CACHE_DIR


def _sha(*parts: bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(8, "little"))
        digest.update(part)
    return digest.hexdigest()


def _code_fingerprint() -> str:
    """A hash of the code that turns source into output: pikku's cli package and its templates."""
    digest = hashlib.sha256()
    try:
        files = sorted(_PIKKU_DIR.joinpath("cli").rglob("*.py"))
        files += sorted(templates_dir().glob("*.jinja"))
        for path in files:
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    except OSError:  # code not readable as files (a zip import): fall back to the version
        try:
            digest.update(version("pikku").encode())
        except PackageNotFoundError:
            digest.update(b"unknown")
    return digest.hexdigest()


class PrebuildCache:
    """One prebuild's view of the cache: load once, look up and record, :meth:`save` once at the end."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.scanned: list[str] = []
        self.reused = 0
        self.output_reused = False
        self._fingerprint = _code_fingerprint()
        self._old_facts = self._load_facts()
        self._new_facts: dict[str, list[str]] = {}
        self._output: dict[str, Any] | None = None
        #: The output the cache held before this run (files checked when they were rendered), or {}.
        self.previous_output: dict[str, str] = {}
        self._texts: list[tuple[str, str]] = []

    # -- scanning ---------------------------------------------------------------------------------------
    def scan_files(self, root: Path, paths: Sequence[Path]) -> list[FileFacts]:
        """Facts for every file under ``root``, sorted by file: from the cache when its bytes are unchanged,
        else scanned (a large batch on every core: :func:`~pikku.cli.scan.parallel.scan_sources`)."""
        found: list[FileFacts] = []
        misses: dict[str, tuple[str, bytes]] = {}  # file -> (key, source)
        for path in paths:
            file = relative_file(root, path)
            source = read_source(path, file)
            if isinstance(source, Diagnostic):  # not read: nothing to cache, the diagnostic says why
                found.append(unread_file(file, source))
                continue
            key = _sha(str(FACTS_VERSION).encode(), self._fingerprint.encode(), _path_bytes(file), source)
            facts, text = self._cached(key, file)
            if facts is None:
                misses[file] = (key, source)
            else:
                self.reused += 1
                self._keep(key, file, text)
                found.append(facts)
        for facts, text in scan_sources([(file, source) for file, (_, source) in misses.items()]):
            self.scanned.append(facts.file)
            self._keep(misses[facts.file][0], facts.file, text)
            found.append(facts)
        return sorted(found, key=lambda facts: facts.file)

    def _keep(self, key: str, file: str, text: str) -> None:
        self._new_facts[key] = [_sha(text.encode()), text]
        self._texts.append((file, text))

    def _cached(self, key: str, file: str) -> tuple[FileFacts | None, str]:
        entry = self._old_facts.get(key)
        if not (isinstance(entry, list) and len(entry) == 2 and all(isinstance(x, str) for x in entry)):
            return None, ""
        digest, text = entry
        if _sha(text.encode()) != digest:
            return None, ""
        try:
            facts = FileFacts.from_json(text)
        except Exception:  # from_json raises ValueError for known problems; any other is a miss as well
            return None, ""
        if facts.file != file:
            return None, ""
        return facts, text

    # -- rendering --------------------------------------------------------------------------------------
    def rendered(self, package: str, render: Callable[[], dict[str, str]]) -> dict[str, str]:
        """The files ``render()`` would give for the facts scanned so far: reused when those are unchanged."""
        key = self._output_key(package)
        old = self._load_json(_OUTPUT_FILE)
        files = old.get("files")
        if not (
            isinstance(files, dict)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in files.items())
            and old.get("digest") == _files_digest(files)
        ):
            files = None
        self.previous_output = files or {}
        if files is not None and old.get("key") == key:
            self.output_reused = True
            return files
        files = render()
        self._output = {"format": CACHE_FORMAT, "key": key, "digest": _files_digest(files), "files": files}
        return files

    def drop_output(self) -> None:
        """Do not keep the output rendered by this run (it failed a check): the next run renders again."""
        self._output = None

    def _output_key(self, package: str) -> str:
        parts = [str(CACHE_FORMAT).encode(), self._fingerprint.encode(), package.encode()]
        for file, text in sorted(self._texts):
            parts += [_path_bytes(file), text.encode()]
        return _sha(*parts)

    # -- persistence ------------------------------------------------------------------------------------
    def save(self) -> None:
        """Write what changed (best effort): the facts of this run's files, and new output if rendered."""
        if self._new_facts != self._old_facts:
            self._write(_FACTS_FILE, {"format": CACHE_FORMAT, "entries": self._new_facts})
        if self._output is not None:
            self._write(_OUTPUT_FILE, self._output)

    def _load_facts(self) -> dict[str, Any]:
        entries = self._load_json(_FACTS_FILE).get("entries")
        return entries if isinstance(entries, dict) else {}

    def _load_json(self, name: str) -> dict[str, Any]:
        try:
            data = json.loads((self.directory / name).read_bytes())
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict) or data.get("format") != CACHE_FORMAT:
            return {}
        return data

    def _write(self, name: str, data: dict[str, Any]) -> None:
        path = self.directory / name
        tmp = path.with_name(f".{name}.{os.getpid()}.tmp")
        with contextlib.suppress(OSError):
            self.directory.mkdir(parents=True, exist_ok=True)
            ignore = self.directory / ".gitignore"
            if not ignore.exists():
                ignore.write_text("*\n", encoding="utf-8")
            tmp.write_text(json.dumps(data, separators=(",", ":"), sort_keys=True), encoding="utf-8")
            os.replace(tmp, path)
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def _path_bytes(file: str) -> bytes:
    # A file name with bytes that are not UTF-8 arrives with lone surrogates (surrogateescape).
    return file.encode("utf-8", "surrogatepass")


def _files_digest(files: dict[str, str]) -> str:
    return _sha(*(part.encode() for rel in sorted(files) for part in (rel, files[rel])))


__all__ = ["CACHE_DIR", "CACHE_FORMAT", "PrebuildCache", "cache_dir"]
