"""Failures of the pikku command itself: a coded line on stderr and exit 1, never a traceback."""

from __future__ import annotations

from pathlib import Path

from cli_support import ROOT, project, python, run

FLOW = """
from pikku import wire_workflow

async def flow(services, data: dict) -> dict:
    return data

wire_workflow(name="hello", func=flow)
"""


def _clean(result_stderr: str) -> None:
    assert "Traceback" not in result_stderr, result_stderr


def test_deeply_nested_start_input_is_a_coded_error(tmp_path: Path) -> None:
    """60,000 nested lists as `pikku start` input: PIKKU_CONFIG saying it is nested too deeply, exit 1."""
    deep = "[" * 60000 + "]" * 60000
    env = {"PIKKU_STATE_URL": f"sqlite:///{tmp_path}/x.db"}
    result = run("start", "onboarding", deep, "--root", str(ROOT), cwd=ROOT, env=env)
    _clean(result.stderr)
    assert result.returncode == 1
    assert "PIKKU_CONFIG" in result.stderr and "nested too deeply" in result.stderr, result.stderr


def test_unexpected_failure_is_one_coded_line_and_a_log_file(tmp_path: Path) -> None:
    """A bug inside a command: one PIKKU_INTERNAL line naming a log under the temp dir holding the traceback."""
    (tmp_path / "proj").mkdir()
    root = project(tmp_path / "proj", {"app/flow.py": FLOW})
    logs = tmp_path / "tmp"
    logs.mkdir()
    code = (
        "import sys\n"
        "import pikku.cli.prebuild as prebuild\n"
        "from pikku.cli.app import main\n"
        "def broken(*args, **kwargs):\n"
        "    raise RuntimeError('boom')\n"
        "prebuild.build = broken\n"
        f"sys.argv = ['pikku', 'prebuild', '--root', {str(root)!r}]\n"
        "main()\n"
    )
    result = python(code, root, root, env={"TMPDIR": str(logs)})
    _clean(result.stderr)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "PIKKU_INTERNAL" in lines[0] and "unexpected RuntimeError: boom" in lines[0], result.stderr
    written = list(logs.glob("pikku-internal-*.log"))
    assert len(written) == 1 and str(written[0]) in result.stderr
    text = written[0].read_text()
    assert "Traceback" in text and "RuntimeError: boom" in text
