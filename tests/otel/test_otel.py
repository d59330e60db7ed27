"""OpenTelemetry: a remote run with a retry, across a caller and two worker processes, is one trace.

Each process writes its spans as JSON lines (an SDK exporter set up by ``sitecustomize.py`` in the test
project when PIKKU_TEST_SPANS names a folder); the test merges the files and checks the tree.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

PIKKU = Path(sys.executable).with_name("pikku")

FLOW = """
from pikku import pikku_func, wire_workflow

@pikku_func(name="pay.charge")
async def charge(services, data: dict) -> dict:
    if services.step.attempt == 1:
        raise ConnectionError("gateway timeout")
    return {"paid": data["amount"]}

async def checkout(services, data: dict) -> dict:
    await services.workflow.sleep(0.05, name="settle")
    return await services.workflow.do("charge", "pay.charge", data, retries=2, retry_delay=0.05)

wire_workflow(name="checkout", func=checkout)
"""

SITECUSTOMIZE = """
import json, os
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

class JsonLines(SpanExporter):
    def __init__(self, path):
        self.path = path
    def export(self, spans):
        with open(self.path, "a") as out:
            for s in spans:
                out.write(json.dumps({
                    "name": s.name, "pid": os.getpid(),
                    "trace_id": format(s.context.trace_id, "032x"), "span_id": format(s.context.span_id, "016x"),
                    "parent_id": format(s.parent.span_id, "016x") if s.parent else None,
                    "attributes": dict(s.attributes), "status": s.status.status_code.name,
                    "events": [e.name for e in s.events],
                }) + "\\n")
        return SpanExportResult.SUCCESS

folder = os.environ.get("PIKKU_TEST_SPANS")
if folder:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(JsonLines(os.path.join(folder, f"{os.getpid()}.jsonl"))))
    trace.set_tracer_provider(provider)
"""


def _spans(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for path in sorted(folder.glob("*.jsonl")) for line in path.read_text().splitlines()]


def test_a_remote_run_with_a_retry_is_one_trace_across_processes(tmp_path: Path) -> None:
    """Caller, orchestrator worker and step worker write spans of one trace: start -> passes -> step
    attempts (the first failed with its error recorded, the second done), with the sleep as an event."""
    project = tmp_path / "proj"
    (project / "app").mkdir(parents=True)
    (project / "pyproject.toml").write_text(
        '[tool.pikku]\nsource = ["app"]\n[tool.pikku.settings]\nlocal_steps = false\n'
    )
    (project / "app/__init__.py").write_text("")
    (project / "app/flow.py").write_text(textwrap.dedent(FLOW))
    (project / "sitecustomize.py").write_text(textwrap.dedent(SITECUSTOMIZE))
    spans_dir = tmp_path / "spans"
    spans_dir.mkdir()
    env = {
        **os.environ,
        "PIKKU_STATE_URL": f"sqlite:///{tmp_path / 's.db'}",
        "PIKKU_TEST_SPANS": str(spans_dir),
        "PYTHONPATH": os.pathsep.join([str(project), os.environ.get("PYTHONPATH", "")]),
    }
    subprocess.run([str(PIKKU), "prebuild"], cwd=project, env=env, check=True, capture_output=True, timeout=120)
    queues = ("workflow-checkout-orchestrator", "workflow-checkout-charge")
    workers = [
        subprocess.Popen([str(PIKKU), "worker", "--queue", q], cwd=project, env=env, stderr=subprocess.PIPE, text=True)
        for q in queues
    ]
    try:
        done = subprocess.run(
            [str(PIKKU), "start", "checkout", '{"amount": 5}', "--wait", "--timeout", "60"],
            cwd=project, env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            worker.communicate(timeout=60)
    spans = _spans(spans_dir)
    assert len({s["trace_id"] for s in spans}) == 1, "every span of the run belongs to one trace"
    by_id = {s["span_id"]: s for s in spans}
    [start] = [s for s in spans if s["name"] == "workflow.start checkout"]
    passes = [s for s in spans if s["name"] == "workflow.pass checkout"]
    steps = sorted(
        (s for s in spans if s["name"] == "workflow.step checkout.charge"),
        key=lambda s: s["attributes"]["pikku.attempt"],
    )
    assert start["parent_id"] is None and len(passes) >= 2
    assert [(s["attributes"]["pikku.attempt"], s["attributes"]["pikku.outcome"], s["status"]) for s in steps] == [
        (1, "retry", "ERROR"),
        (2, "done", "UNSET"),
    ]
    assert "exception" in steps[0]["events"] and steps[0]["attributes"]["pikku.rpc"] == "pay.charge"
    assert {s["pid"] for s in steps}.isdisjoint({s["pid"] for s in passes}), "steps ran on the other worker"
    assert any("workflow.sleep" in p["events"] for p in passes)
    for span in spans:
        if span is not start:
            assert span["parent_id"] in by_id, f"{span['name']} hangs off a span of the same trace"


def test_without_a_configured_provider_nothing_is_wrapped() -> None:
    """Zero cost: with OpenTelemetry installed but no SDK configured, the engine is left untouched."""
    from pikku import _telemetry
    from pikku._engine import jobs

    class Engine:
        start_run = handle_job = _pass = object()

    engine = Engine()
    assert _telemetry.instrument(engine) is False
    assert engine.start_run is Engine.start_run and jobs.TRACEPARENT is None


def test_without_the_package_nothing_is_imported(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the opentelemetry package, instrument() imports nothing of it and changes nothing."""
    import importlib.util

    from pikku import _telemetry

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "opentelemetry" else real(name, *a)
    )
    monkeypatch.delitem(sys.modules, "pikku._otel", raising=False)
    assert _telemetry.instrument(object()) is False
    assert "pikku._otel" not in sys.modules


METRICS_SCRIPT = """
import asyncio, json
from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

reader = InMemoryMetricReader()
metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))

from pikku import pikku_func, wire_workflow
from pikku.testing import memory_runtime, settle
from pikku.wiring import WorkflowClient

@pikku_func(name="m.flaky")
async def flaky(services, data: None) -> int:
    if services.step.attempt == 1:
        raise ConnectionError("once")
    return 1

async def flow(services, data: None) -> int:
    return await services.workflow.do("flaky", "m.flaky", retries=1, retry_delay=0.01)

wire_workflow(name="m-flow", func=flow)

async def main():
    from pikku._runtime import open_runtime, set_runtime
    rt = await open_runtime(state_url="memory://")
    set_runtime(rt)
    handle = await WorkflowClient("m-flow").start(None)
    await settle(rt, [handle.run_id])
    await rt.close()
    out = {}
    for rm in reader.get_metrics_data().resource_metrics:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                for p in m.data.data_points:
                    labels = sorted(p.attributes.items())
                    key = m.name + "|" + ",".join(f"{k}={v}" for k, v in labels if k != "pikku.queue")
                    out[key] = out.get(key, 0) + (p.value if hasattr(p, "value") else p.count)
    print(json.dumps(out))

asyncio.run(main())
"""


def test_metrics_count_runs_steps_and_retries(tmp_path: Path) -> None:
    """With a meter provider: runs started and completed, step attempts by outcome (a retry, then done),
    and one duration and one queue-lag point per attempt and job."""
    script = tmp_path / "metrics_run.py"
    script.write_text(textwrap.dedent(METRICS_SCRIPT))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    counts = json.loads(done.stdout.strip().splitlines()[-1])
    assert counts["pikku.runs|pikku.event=started,pikku.workflow=m-flow"] == 1
    assert counts["pikku.runs|pikku.event=completed,pikku.workflow=m-flow"] == 1
    assert counts["pikku.steps|pikku.outcome=retry,pikku.workflow=m-flow"] == 1
    assert counts["pikku.steps|pikku.outcome=done,pikku.workflow=m-flow"] == 1
    assert counts["pikku.step.duration|pikku.outcome=done,pikku.workflow=m-flow"] == 1
    assert counts["pikku.queue.lag|"] >= 2


WAITS_FLOW = """
from pydantic import BaseModel
from pikku import wire_workflow

class Go(BaseModel):
    ok: bool

async def child(services, data: dict) -> dict:
    return {"child": True}

async def parent(services, data: dict) -> None:
    await services.workflow.call_workflow("kid", "kid-flow", {})
    await services.workflow.start_workflow("bg", "kid-flow", {})
    await services.workflow.wait_for_event("go", Go, timeout=0.05)
    await services.workflow.suspend("hold for a human")

wire_workflow(name="kid-flow", func=child)
wire_workflow(name="waits", func=parent)
"""


def test_waits_children_and_suspends_are_span_events(tmp_path: Path) -> None:
    """A pass that calls and starts a child, waits for an event and suspends records each as an event of
    its pass span: workflow.call_workflow, workflow.start_workflow, workflow.wait_for_event, workflow.suspend."""
    project = tmp_path / "proj"
    (project / "app").mkdir(parents=True)
    (project / "pyproject.toml").write_text('[tool.pikku]\nsource = ["app"]\n')
    (project / "app/__init__.py").write_text("")
    (project / "app/flow.py").write_text(textwrap.dedent(WAITS_FLOW))
    (project / "sitecustomize.py").write_text(textwrap.dedent(SITECUSTOMIZE))
    spans_dir = tmp_path / "spans"
    spans_dir.mkdir()
    env = {
        **os.environ,
        "PIKKU_STATE_URL": f"sqlite:///{tmp_path / 's.db'}",
        "PIKKU_TEST_SPANS": str(spans_dir),
        "PYTHONPATH": os.pathsep.join([str(project), os.environ.get("PYTHONPATH", "")]),
    }
    subprocess.run([str(PIKKU), "prebuild"], cwd=project, env=env, check=True, capture_output=True, timeout=120)
    worker = subprocess.Popen([str(PIKKU), "worker"], cwd=project, env=env, stderr=subprocess.PIPE, text=True)
    try:
        started = subprocess.run(
            [str(PIKKU), "start", "waits", "{}"],
            cwd=project, env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert started.returncode == 0, started.stdout + started.stderr
        for _ in range(600):
            listed = subprocess.run(
                [str(PIKKU), "runs", "list", "--status", "suspended", "--json"],
                cwd=project, env=env, capture_output=True, text=True, timeout=60, check=True,
            )  # fmt: skip
            if json.loads(listed.stdout)["runs"]:
                break
        else:
            pytest.fail("the run never suspended")
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.communicate(timeout=60)
    events = {e for s in _spans(spans_dir) if s["name"] == "workflow.pass waits" for e in s["events"]}
    assert {
        "workflow.call_workflow",
        "workflow.start_workflow",
        "workflow.wait_for_event",
        "workflow.suspend",
    } <= events


GAUGE_SCRIPT = """
import asyncio, json, time
from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

reader = InMemoryMetricReader()
metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))

from pikku import wire_workflow
from pikku._records import RUN_STATUSES
from pikku._runtime import open_runtime, set_runtime
from pikku.testing import FAST
from pikku.wiring import WorkflowClient
from pikku.worker import Worker

async def flow(services, data: str) -> str:
    if data == "fail":
        raise ValueError("no")
    if data == "nap":
        await services.workflow.sleep(600, name="nap")
    return data

wire_workflow(name="g-flow", func=flow)

def gauge():
    points = {}
    data = reader.get_metrics_data()
    for rm in data.resource_metrics if data else ():
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                if m.name == "pikku.runs.status":
                    points = {p.attributes["pikku.status"]: p.value for p in m.data.data_points}
    return points

async def main():
    rt = await open_runtime(state_url="memory://", settings=FAST)
    set_runtime(rt)
    before = gauge()
    for data in ("ok", "ok", "fail", "nap", "cancel"):
        handle = await WorkflowClient("g-flow").start(data)
        if data == "cancel":
            await rt.engine.state.cancel_run(handle.run_id)
    worker = Worker(rt.engine, poll_interval=0.02, sample_interval=0.05, recovery_interval=None)
    task = asyncio.ensure_future(worker.run())
    want = dict.fromkeys(RUN_STATUSES, 0) | {"waiting": 1, "completed": 2, "failed": 1, "cancelled": 1}
    deadline = time.monotonic() + 30
    while (seen := gauge()) != want and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    worker.stop()
    await task
    await rt.close()
    print(json.dumps({"before": before, "seen": seen, "want": want}))

asyncio.run(main())
"""


def test_a_gauge_of_runs_by_status_is_sampled_by_workers(tmp_path: Path) -> None:
    """``pikku.runs.status``: nothing before a worker sampled the store; then, read through the SDK's
    in-memory reader, the runs of each status (the sleeping run waiting, two completed, one failed, one
    cancelled), every known status reported."""
    script = tmp_path / "gauge_run.py"
    script.write_text(textwrap.dedent(GAUGE_SCRIPT))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["before"] == {}
    assert result["seen"] == result["want"]
    assert {k: v for k, v in result["seen"].items() if v} == {"waiting": 1, "completed": 2, "failed": 1, "cancelled": 1}


KEPT_FLOW = """
from pikku import pikku_func, wire_workflow

def three() -> int:
    return 3

async def napper(services, data: dict) -> int:
    await services.workflow.sleep(0.05, name="nap")
    return await services.workflow.do("after", three)

wire_workflow(name="napper", func=napper)
"""


def test_a_kept_workflow_traces_its_later_steps_under_the_pass_that_ran_them(tmp_path: Path) -> None:
    """A workflow kept waiting in place across passes (pikku._engine.kept) runs its step after the sleep in
    the second pass: the step's span is a child of that pass's span, not of the first pass's, which ended."""
    project = tmp_path / "proj"
    (project / "app").mkdir(parents=True)
    (project / "pyproject.toml").write_text('[tool.pikku]\nsource = ["app"]\n')
    (project / "app/__init__.py").write_text("")
    (project / "app/flow.py").write_text(textwrap.dedent(KEPT_FLOW))
    (project / "sitecustomize.py").write_text(textwrap.dedent(SITECUSTOMIZE))
    spans_dir = tmp_path / "spans"
    spans_dir.mkdir()
    env = {
        **os.environ,
        "PIKKU_STATE_URL": f"sqlite:///{tmp_path / 's.db'}",
        "PIKKU_TEST_SPANS": str(spans_dir),
        "PYTHONPATH": os.pathsep.join([str(project), os.environ.get("PYTHONPATH", "")]),
    }
    subprocess.run([str(PIKKU), "prebuild"], cwd=project, env=env, check=True, capture_output=True, timeout=120)
    worker = subprocess.Popen([str(PIKKU), "worker"], cwd=project, env=env, stderr=subprocess.PIPE, text=True)
    try:
        done = subprocess.run(
            [str(PIKKU), "start", "napper", "{}", "--wait", "--timeout", "60"],
            cwd=project, env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.communicate(timeout=60)
    spans = _spans(spans_dir)
    passes = {s["span_id"]: s for s in spans if s["name"] == "workflow.pass napper"}
    [step] = [s for s in spans if s["name"] == "workflow.step napper.after"]
    [first] = [p for p in passes.values() if "workflow.sleep" in p["events"]]
    assert len(passes) >= 2 and step["parent_id"] in passes
    assert step["parent_id"] != first["span_id"], "the step hangs off the pass that ran it"
