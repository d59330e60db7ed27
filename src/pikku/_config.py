"""``[tool.pikku]`` in pyproject.toml, with environment overrides (``PIKKU_STATE_URL``, ``PIKKU_QUEUE_URL``)."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pikku._duration import parse_duration
from pikku._engine.retention import Retention
from pikku._errors import ConfigError, PikkuError
from pikku._records import SETTLED_RUN_STATUSES, RunStatus

DEFAULT_STATE_URL = "sqlite:///.pikku-data/pikku.sqlite3"


@dataclass(frozen=True, slots=True)
class PikkuConfig:
    """A project's pikku settings; relative paths are resolved against ``root``."""

    root: Path
    source: tuple[str, ...] = ()
    output: str = ".pikku"
    package: str = "pikku_gen"
    services: str | None = None
    state_url: str = DEFAULT_STATE_URL
    queue_url: str | None = None
    settings: dict[str, float | int | bool] = field(default_factory=dict)
    #: ``[tool.pikku.settings] retention``: what workers prune now and then (None: they never prune).
    retention: Retention | None = None
    #: ``[tool.pikku.http]``: the HTTP API's ``authorize`` hook ("package.module:function") and
    #: ``trusted_origins`` (origins besides the server's own that may post to it).
    http: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def output_dir(self) -> Path:
        """Where generated code goes (a source root holding the package ``package``)."""
        return self.root / self.output

    def resolved_state_url(self) -> str:
        """The state URL with environment override and relative file paths anchored at the project root."""
        return anchor_url(os.environ.get("PIKKU_STATE_URL") or self.state_url, self.root)

    def resolved_queue_url(self) -> str:
        """The queue URL (defaults to the state URL), anchored like the state URL."""
        url = os.environ.get("PIKKU_QUEUE_URL") or self.queue_url
        return anchor_url(url, self.root) if url else self.resolved_state_url()


def anchor_url(url: str, root: Path) -> str:
    """Make ``sqlite:///rel`` and ``file://rel`` URLs absolute against ``root`` (others unchanged)."""
    for prefix in ("sqlite:///", "file://"):
        if url.startswith(prefix):
            rest = url[len(prefix) :]
            if rest and not rest.startswith("/"):
                return f"{prefix}{(root / rest).as_posix()}"
    return url


def find_pyproject(start: Path | None = None) -> Path:
    """The nearest pyproject.toml with a ``[tool.pikku]`` table, from ``start`` upwards."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file() and "tool" in _read(candidate) and "pikku" in _read(candidate)["tool"]:
            return candidate
    raise ConfigError(
        f"no pyproject.toml with a [tool.pikku] table at or above {here}",
        hint="run from your project folder, or add [tool.pikku] with source = ['your_app'] to pyproject.toml",
    )


def _read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}", hint="fix the syntax of pyproject.toml") from exc


_KNOWN = {"source", "output", "package", "services", "state_url", "queue_url", "settings", "http"}

#: ``[tool.pikku.settings]``: engine timings and limits (pikku.Settings) and the worker's recovery sweep.
SETTING_KEYS = frozenset(
    {
        "run_lock_lease",
        "step_lease",
        "lock_busy_delay",
        "default_retries",
        "payload_limit",
        "inline_watchdog",
        "recovery_interval",
        "recovery_stale_after",
        "kept_runs",
        "kept_idle",
    }
)
#: Settings that count things: whole numbers.
COUNT_KEYS = frozenset({"default_retries", "payload_limit", "kept_runs"})
#: Settings that are switches (TOML booleans), not numbers.
SWITCH_KEYS = frozenset({"local_steps", "local_handoff"})
#: Settings of the workers' periodic pruning (a duration, a list of statuses, a duration).
RETENTION_KEYS = frozenset({"retention", "retention_status", "retention_interval"})


def _settings(path: Path, table: dict[str, Any]) -> dict[str, float | int | bool]:
    raw = table.get("settings", {})
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{path}: [tool.pikku.settings] must be a table", hint="[tool.pikku.settings]\nstep_lease = 30"
        )
    for key, value in raw.items():
        if key in RETENTION_KEYS:
            continue
        if key in SWITCH_KEYS:
            if not isinstance(value, bool):
                raise ConfigError(
                    f"{path}: [tool.pikku.settings] {key} must be true or false, not {value!r}", hint=f"{key} = true"
                )
            continue
        if key not in SETTING_KEYS:
            raise ConfigError(
                f"{path}: [tool.pikku.settings] has unknown key {key!r}",
                hint=f"known keys: {', '.join(sorted(SETTING_KEYS | SWITCH_KEYS | RETENTION_KEYS))}",
            )
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ConfigError(
                f"{path}: [tool.pikku.settings] {key} must be a number >= 0, not {value!r}", hint=f"{key} = 30"
            )
        if key in COUNT_KEYS and not isinstance(value, int):
            raise ConfigError(
                f"{path}: [tool.pikku.settings] {key} must be a whole number, not {value!r}", hint=f"{key} = 3"
            )
    return {k: v for k, v in raw.items() if k not in RETENTION_KEYS}


def _retention(path: Path, table: dict[str, Any]) -> Retention | None:
    """``retention = "30d"`` (with ``retention_status`` and ``retention_interval``), or None when unset."""
    raw = table.get("settings", {})
    if "retention" not in raw:
        for key in sorted(RETENTION_KEYS & set(raw)):
            raise ConfigError(
                f"{path}: [tool.pikku.settings] {key} needs retention", hint='retention = "30d"  # prune older runs'
            )
        return None
    where = f"{path}: [tool.pikku.settings]"
    older_than = _duration(where, "retention", raw["retention"])
    interval = _duration(where, "retention_interval", raw.get("retention_interval", 3600.0))
    statuses = raw.get("retention_status", ["completed"])
    if isinstance(statuses, str):
        statuses = [statuses]
    settled = sorted(SETTLED_RUN_STATUSES)
    if not isinstance(statuses, list) or not statuses or any(s not in SETTLED_RUN_STATUSES for s in statuses):
        raise ConfigError(
            f"{where} retention_status must list settled run statuses, not {raw['retention_status']!r}",
            hint=f"choose from {', '.join(settled)} (active runs are never pruned)",
        )
    if interval <= 0:
        raise ConfigError(f"{where} retention_interval must be more than 0", hint='retention_interval = "1h"')
    chosen: tuple[RunStatus, ...] = tuple(dict.fromkeys(statuses))
    return Retention(older_than=older_than, statuses=chosen, interval=interval)


def _duration(where: str, key: str, value: Any) -> float:
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise ConfigError(f"{where} {key} must be a duration, not {value!r}", hint=f'{key} = "30d"')
    try:
        return parse_duration(value)
    except PikkuError as exc:
        raise ConfigError(f"{where} {key}: {exc.message}", hint=exc.hint) from None


#: ``[tool.pikku.http]`` keys.
HTTP_KEYS = frozenset({"authorize", "trusted_origins"})


def _http(path: Path, table: dict[str, Any]) -> dict[str, Any]:
    raw = table.get("http", {})
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{path}: [tool.pikku.http] must be a table", hint='[tool.pikku.http]\nauthorize = "app.auth:authorize"'
        )
    unknown = sorted(set(raw) - HTTP_KEYS)
    if unknown:
        raise ConfigError(
            f"{path}: [tool.pikku.http] has unknown key(s) {', '.join(unknown)}",
            hint=f"known keys: {', '.join(sorted(HTTP_KEYS))}",
        )
    if "authorize" in raw and not isinstance(raw["authorize"], str):
        raise ConfigError(
            f"{path}: [tool.pikku.http] authorize must be a string", hint='authorize = "app.auth:authorize"'
        )
    origins = raw.get("trusted_origins", [])
    if not isinstance(origins, list) or not all(isinstance(o, str) for o in origins):
        raise ConfigError(
            f"{path}: [tool.pikku.http] trusted_origins must be a list of origins",
            hint='trusted_origins = ["https://admin.example.com"]',
        )
    return dict(raw)


def load_config(start: Path | None = None) -> PikkuConfig:
    """Read and validate ``[tool.pikku]``; unknown keys and wrong types are errors naming the key."""
    path = find_pyproject(start)
    table = _read(path)["tool"]["pikku"]
    unknown = sorted(set(table) - _KNOWN)
    if unknown:
        raise ConfigError(
            f"{path}: [tool.pikku] has unknown key(s) {', '.join(unknown)}",
            hint=f"known keys: {', '.join(sorted(_KNOWN))}",
        )
    source = table.get("source", [])
    if isinstance(source, str):
        source = [source]
    if not isinstance(source, list) or not all(isinstance(s, str) for s in source):
        raise ConfigError(f"{path}: [tool.pikku] source must be a list of folders", hint='source = ["my_app"]')
    for key in ("output", "package", "services", "state_url", "queue_url"):
        if key in table and not isinstance(table[key], str):
            raise ConfigError(f"{path}: [tool.pikku] {key} must be a string", hint=f'{key} = "..."')
    return PikkuConfig(
        root=path.parent,
        source=tuple(source),
        output=table.get("output", ".pikku"),
        package=table.get("package", "pikku_gen"),
        services=table.get("services"),
        state_url=table.get("state_url", DEFAULT_STATE_URL),
        queue_url=table.get("queue_url"),
        settings=_settings(path, table),
        retention=_retention(path, table),
        http=_http(path, table),
        raw=dict(table),
    )
