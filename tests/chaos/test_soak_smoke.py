"""The soak, briefly: 15 seconds of ``python -m tests.chaos.soak`` on a Redis server of its own, so the soak
itself keeps working between the times it is run by hand for minutes. It never touches the shared servers."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.soak]

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="no redis-server to start")
def test_a_short_soak_on_its_own_redis_holds() -> None:
    """Runs started while workers are SIGKILLed and the soak's own redis-server is crashed: every run
    completes, no step body completes twice for one recorded completion (violations 0)."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.chaos.soak", "--minutes", "0.25", "--backend", "redis", "--drain", "40"],
        cwd=ROOT, capture_output=True, text=True, timeout=55, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    [figures] = [json.loads(line[len("[soak] ") :]) for line in done.stdout.splitlines() if line.startswith("[soak] {")]
    assert figures["violations"] == 0 and figures["lost_runs"] == 0
    assert figures["runs"] >= 5 and figures["runs_completed"] == figures["runs"]
    assert figures["worker_kills"] >= 1
