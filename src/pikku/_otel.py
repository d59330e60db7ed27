"""The OpenTelemetry side of :mod:`pikku._telemetry`, imported only when the package is installed and a
provider is configured: the tracer, the meters, and the wrappers put on one engine."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from opentelemetry import context, metrics, propagate, trace
from opentelemetry.metrics import CallbackOptions, Observation

from pikku._engine import jobs
from pikku._engine.storeclock import PassClock
from pikku._hooks import HOOKS
from pikku._records import RUN_STATUSES


def configured() -> bool:
    """Whether the process configured a tracer or meter provider (the default ones record nothing)."""
    tracing = not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider | trace.NoOpTracerProvider)
    metering = type(metrics.get_meter_provider()).__name__ not in ("_ProxyMeterProvider", "NoOpMeterProvider")
    return tracing or metering


class Instruments:
    """The tracer, the meters, and the wrappers put on one engine."""

    def __init__(self, engine: Any) -> None:  # an Engine (typed loosely: the engine must not import this)
        self.engine = engine
        self.tracer = trace.get_tracer("pikku")
        meter = metrics.get_meter("pikku")
        self.runs = meter.create_counter("pikku.runs", description="runs by event: started, completed, ...")
        self.steps = meter.create_counter("pikku.steps", description="step attempts by outcome")
        self.step_duration = meter.create_histogram("pikku.step.duration", unit="s", description="step attempts")
        self.queue_lag = meter.create_histogram("pikku.queue.lag", unit="s", description="job due to claimed")
        #: The last runs-by-status sample a worker took (None until one did: then nothing is reported).
        self.statuses: dict[str, int] | None = None
        #: The store's clock the queue lag is measured on: a job's due time is the queue's clock, which is the
        #: store's (co-located pairs share one server), not this host's. Read once, then carried forward on
        #: the monotonic clock, and read afresh at each sample (one round trip per sample, none per job).
        self.store_clock = PassClock(self._store_now)
        meter.create_observable_gauge(
            "pikku.runs.status",
            callbacks=[self.observe_statuses],
            unit="{run}",
            description="runs by status in the store, sampled by workers (every worker reports the same figures)",
        )

    def install(self) -> None:
        """Wrap the engine's entry points; stamp jobs with the traceparent; take span events."""
        engine = self.engine
        engine.start_run = self._wrap_start(engine.start_run)
        engine._pass = self._wrap_pass(engine._pass)
        engine.handle_job = self._wrap_job(engine.handle_job)
        engine.steps._attempt = self._wrap_step(engine.steps._attempt)
        jobs.TRACEPARENT = self.traceparent
        HOOKS.event = self.event
        engine.samplers.append(self.sample_statuses)
        engine.samplers.append(self.sample_store_clock)

    async def sample_statuses(self) -> None:
        """Read runs by status from the store (one indexed query; a worker calls this now and then)."""
        self.statuses = await self.engine.state.count_runs()

    async def sample_store_clock(self) -> None:
        """Read the store's clock afresh, so the queue lag follows it if it is stepped or slewed."""
        clock = PassClock(self._store_now)
        await clock.now()
        self.store_clock = clock

    async def _store_now(self) -> float:
        now: float = await self.engine.state.now()
        return now

    def observe_statuses(self, options: CallbackOptions) -> Iterable[Observation]:
        """The gauge's points: the last sample, every known status included (0 when it has no runs)."""
        if self.statuses is None:
            return []
        counts = dict.fromkeys(RUN_STATUSES, 0) | self.statuses
        return [Observation(n, {"pikku.status": status}) for status, n in sorted(counts.items())]

    def traceparent(self) -> str | None:
        """The W3C traceparent of the current span (None outside any)."""
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        return carrier.get("traceparent")

    def event(self, name: str, attributes: dict[str, Any]) -> None:
        """An event on the current span (the pass that reached a sleep)."""
        trace.get_current_span().add_event(name, attributes)

    def _wrap_start(self, start_run: Any) -> Any:
        async def start_run_traced(workflow: str, data: Any, *, run_id: str | None = None) -> Any:
            with self.tracer.start_as_current_span(f"workflow.start {workflow}") as span:
                started = await start_run(workflow, data, run_id=run_id)
                span.set_attributes({"pikku.workflow": workflow, "pikku.run_id": started.run_id})
                span.set_attribute("pikku.created", started.created)
                if started.created:
                    self.runs.add(1, {"pikku.workflow": workflow, "pikku.event": "started"})
                return started

        return start_run_traced

    def _wrap_job(self, handle_job: Any) -> Any:
        async def handle_job_traced(job: Any, serves: Any = None, **more: Any) -> Any:
            lag = await self.store_clock.now() - job.run_at
            self.queue_lag.record(max(0.0, lag), {"pikku.queue": job.queue})
            parent = propagate.extract({"traceparent": str(job.payload.get("traceparent", ""))})
            token = context.attach(parent)
            try:
                return await handle_job(job, serves, **more)
            finally:
                context.detach(token)

        return handle_job_traced

    def _wrap_pass(self, one_pass: Any) -> Any:
        async def pass_traced(
            run: Any, steps: Any = None, serves: Any = None, clock: Any = None, kept: Any = None, keep: bool = False
        ) -> Any:
            attributes = {"pikku.run_id": run.run_id, "pikku.workflow": run.workflow}
            with self.tracer.start_as_current_span(f"workflow.pass {run.workflow}", attributes=attributes) as span:
                outcome = await one_pass(run, steps, serves, clock, kept, keep)
                span.set_attribute("pikku.outcome", outcome.kind)
            if outcome.kind in ("completed", "failed", "cancelled"):
                self.runs.add(1, {"pikku.workflow": run.workflow, "pikku.event": outcome.kind})
            return outcome

        return pass_traced

    def _wrap_step(self, attempt: Any) -> Any:
        async def attempt_traced(call: Any, rec: Any, where: str, *more: Any) -> Any:
            number = rec.attempts if rec is not None else 1
            attributes = {
                "pikku.run_id": call.run_id,
                "pikku.workflow": call.wf.name,
                "pikku.step": call.name,
                "pikku.attempt": number,
                "pikku.form": call.form,
                "pikku.rpc": call.rpc_name or "",
                "pikku.where": where,
            }
            began = time.perf_counter()
            with self.tracer.start_as_current_span(
                f"workflow.step {call.wf.name}.{call.name}", attributes=attributes
            ) as span:
                outcome = await attempt(call, rec, where, *more)
                span.set_attribute("pikku.outcome", outcome.kind)
                if outcome.error is not None:
                    error = outcome.error
                    span.add_event(
                        "exception",
                        {
                            "exception.type": error.type,
                            "exception.message": error.message,
                            "exception.stacktrace": error.stack,
                        },
                    )
                    span.set_status(trace.Status(trace.StatusCode.ERROR, f"{error.type}: {error.message}"))
            labels = {"pikku.workflow": call.wf.name, "pikku.outcome": outcome.kind}
            self.steps.add(1, labels)
            self.step_duration.record(time.perf_counter() - began, labels)
            return outcome

        return attempt_traced


__all__ = ["configured"]
