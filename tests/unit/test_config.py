"""[tool.pikku] loading: defaults, validation with the key named, environment overrides, settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from pikku import ConfigError
from pikku._config import load_config
from pikku._runtime import engine_settings


def _write(tmp_path: Path, body: str) -> Path:
    (tmp_path / "pyproject.toml").write_text(body)
    return tmp_path


def test_defaults_and_relative_sqlite_url_anchored_at_the_project(tmp_path: Path) -> None:
    """Without URLs the embedded default is used, anchored at the folder of pyproject.toml."""
    cfg = load_config(_write(tmp_path, '[tool.pikku]\nsource = ["app"]\n'))
    assert cfg.source == ("app",)
    assert cfg.resolved_state_url() == f"sqlite:///{tmp_path}/.pikku-data/pikku.sqlite3"
    assert cfg.resolved_queue_url() == cfg.resolved_state_url()


def test_environment_overrides_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """PIKKU_STATE_URL and PIKKU_QUEUE_URL win over the file."""
    cfg = load_config(_write(tmp_path, '[tool.pikku]\nstate_url = "memory://"\n'))
    monkeypatch.setenv("PIKKU_STATE_URL", "postgresql://db/x")
    monkeypatch.setenv("PIKKU_QUEUE_URL", "redis://r/0")
    assert (cfg.resolved_state_url(), cfg.resolved_queue_url()) == ("postgresql://db/x", "redis://r/0")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("[tool.pikku]\nsorce = []\n", "unknown key(s) sorce"),
        ("[tool.pikku]\nsource = 3\n", "source must be a list"),
        ("[tool.pikku]\nstate_url = 1\n", "state_url must be a string"),
        ("[tool.pikku.settings]\nstep_leas = 1\n", "unknown key 'step_leas'"),
        ("[tool.pikku.settings]\nstep_lease = -1\n", "step_lease must be a number >= 0"),
        ("[tool.pikku.settings]\nlocal_steps = 1\n", "local_steps must be true or false"),
        ("[tool.pikku\n", "invalid TOML"),
    ],
)
def test_mistakes_name_the_file_and_the_key(tmp_path: Path, body: str, message: str) -> None:
    """A wrong key or value is a ConfigError naming pyproject.toml and the key."""
    _write(tmp_path, body)
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert message in str(info.value)
    assert "pyproject.toml" in str(info.value)


def test_settings_reach_the_engine(tmp_path: Path) -> None:
    """[tool.pikku.settings] sets the engine's leases and retries; sweep keys are for the worker."""
    settings_table = "[tool.pikku.settings]\nstep_lease = 2.5\ndefault_retries = 1\nrecovery_interval = 5\n"
    cfg = load_config(_write(tmp_path, settings_table))
    settings = engine_settings(cfg)
    assert (settings.step_lease, settings.default_retries) == (2.5, 1)
    assert cfg.settings["recovery_interval"] == 5


def test_missing_config_says_how_to_fix(tmp_path: Path) -> None:
    """No [tool.pikku] anywhere above: a ConfigError with a hint."""
    with pytest.raises(ConfigError, match=r"no pyproject.toml with a \[tool.pikku\] table"):
        load_config(tmp_path)


def test_local_steps_switch_reaches_the_engine(tmp_path: Path) -> None:
    """local_steps defaults on; `local_steps = false` sends every remote step through its queue."""
    assert engine_settings(load_config(_write(tmp_path, "[tool.pikku]\n"))).local_steps is True
    cfg = load_config(_write(tmp_path, "[tool.pikku]\n[tool.pikku.settings]\nlocal_steps = false\n"))
    assert engine_settings(cfg).local_steps is False


def test_kept_runs_and_local_handoff_settings_reach_the_engine(tmp_path: Path) -> None:
    """The keys the README lists for kept runs and local hand-offs are accepted and reach the engine."""
    defaults = engine_settings(load_config(_write(tmp_path, "[tool.pikku]\n")))
    assert (defaults.kept_runs, defaults.kept_idle, defaults.local_handoff) == (1000, 60.0, True)
    text = "[tool.pikku]\n[tool.pikku.settings]\nkept_runs = 0\nkept_idle = 5.5\nlocal_handoff = false\n"
    settings = engine_settings(load_config(_write(tmp_path, text)))
    assert (settings.kept_runs, settings.kept_idle, settings.local_handoff) == (0, 5.5, False)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("kept_runs = 2.5", "kept_runs must be a whole number"),
        ("local_handoff = 0", "local_handoff must be true or false"),
        ("kept_idle = -1", "kept_idle must be a number >= 0"),
    ],
)
def test_bad_kept_and_handoff_settings_are_coded_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(_write(tmp_path, f"[tool.pikku]\n[tool.pikku.settings]\n{text}\n"))


def test_retention_settings_make_a_retention(tmp_path: Path) -> None:
    """retention, retention_status and retention_interval become the workers' Retention; engine settings
    stay free of them."""
    body = (
        '[tool.pikku.settings]\nstep_lease = 2\nretention = "30d"\n'
        'retention_status = ["completed", "cancelled"]\nretention_interval = "10m"\n'
    )
    cfg = load_config(_write(tmp_path, body))
    assert cfg.retention is not None
    assert (cfg.retention.older_than, cfg.retention.statuses, cfg.retention.interval) == (
        30 * 86400.0,
        ("completed", "cancelled"),
        600.0,
    )
    assert set(cfg.settings) == {"step_lease"}
    assert engine_settings(cfg).step_lease == 2


def test_without_retention_workers_never_prune(tmp_path: Path) -> None:
    """No retention key: no Retention, and the default status is completed only when it is set."""
    assert load_config(_write(tmp_path, "[tool.pikku]\n")).retention is None
    only = load_config(_write(tmp_path, "[tool.pikku.settings]\nretention = 60\n")).retention
    assert only is not None and only.statuses == ("completed",) and only.interval == 3600.0


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('retention = "soon"', "retention: invalid duration 'soon'"),
        ("retention = true", "retention must be a duration"),
        ('retention = "1d"\nretention_status = ["running"]', "retention_status must list settled run statuses"),
        ('retention = "1d"\nretention_status = ["done"]', "retention_status must list settled run statuses"),
        ('retention = "1d"\nretention_status = []', "retention_status must list settled run statuses"),
        ('retention = "1d"\nretention_interval = 0', "retention_interval must be more than 0"),
        ('retention_status = ["failed"]', "retention_status needs retention"),
    ],
)
def test_retention_mistakes_name_the_key(tmp_path: Path, body: str, message: str) -> None:
    """A bad retention setting is a ConfigError naming pyproject.toml and the key, with a fix."""
    _write(tmp_path, f"[tool.pikku.settings]\n{body}\n")
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert message in str(info.value)
    assert "pyproject.toml" in str(info.value)
    assert info.value.hint
