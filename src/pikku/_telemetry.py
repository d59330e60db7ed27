"""OpenTelemetry for pikku (``pikku[otel]``): spans, metrics and trace context carried by the run's jobs.

Spans: ``workflow.start <wf>`` in the caller; ``workflow.pass <wf>`` per replay pass; ``workflow.step
<wf>.<step>`` per step attempt (run id, attempt, rpc, form, where it ran, outcome; the error recorded on
failure); ``workflow.sleep`` and ``workflow.patched`` as events on the pass. Every job a run enqueues carries
the W3C ``traceparent`` of the span that made it, so a pass or a step on another host joins the trace that
started the run. Metrics: counters of runs started/completed/failed/cancelled and steps
completed/failed/retried; histograms of step duration and queue lag (due to claimed); a gauge of runs by
status (``pikku.runs.status``), sampled from the store by workers (``StateStore.count_runs``).

Zero cost when unused: :func:`instrument` runs once per engine; without the opentelemetry package it
imports nothing, and without a configured tracer or meter provider it changes nothing, so the hot path is
the uninstrumented one. Configure your SDK before opening pikku's runtime (or ``pikku worker``).
"""

from __future__ import annotations

import importlib.util
from typing import Any


def instrument(engine: Any) -> bool:
    """Wrap ``engine``'s entry points in spans and metrics if OpenTelemetry is installed and configured."""
    if importlib.util.find_spec("opentelemetry") is None:
        return False
    # Imported here, not at the top: without the opentelemetry package pikku never imports it.
    from pikku import _otel  # noqa: PLC0415

    if not _otel.configured():
        return False
    _otel.Instruments(engine).install()
    return True


__all__ = ["instrument"]
