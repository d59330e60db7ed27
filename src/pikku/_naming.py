"""Queue names and client attributes: the one place that spells them.

The code generator (``pikku.cli.render``) writes these names into the generated workers and metadata,
and the runtime (``pikku._registry``) routes jobs by them, so both must build them the same way. This
module imports nothing from pikku so either side can use it without pulling in the other.
"""

from __future__ import annotations

import keyword
import unicodedata

__all__ = [
    "ON_ERROR",
    "ON_FAILURE",
    "ON_FAILURE_QUEUE_STEP",
    "attribute_name",
    "orchestrator_queue",
    "routed_step",
    "step_queue",
]

#: Prefixes of compensation steps: ``on_error:<step>`` (``do(..., on_error=)``) and ``on_failure:<episode>``
#: (``wire_workflow(..., on_failure=)``).
ON_ERROR = "on_error:"
ON_FAILURE = "on_failure:"
#: The step every ``on_failure`` episode of a workflow is routed by: queue ``workflow-<workflow>-on_failure``.
ON_FAILURE_QUEUE_STEP = "on_failure"


def step_queue(workflow: str, step: str) -> str:
    """The queue of an RPC step: ``workflow-<workflow>-<step>``."""
    return f"workflow-{workflow}-{step}"


def orchestrator_queue(workflow: str) -> str:
    """The queue of a workflow's replays: ``workflow-<workflow>-orchestrator``."""
    return f"workflow-{workflow}-orchestrator"


def routed_step(step: str) -> str:
    """The step name a step's queue is chosen by: a compensation step goes where its failed step went
    (``on_error:<step>``), every run episode's to ``on_failure``; any other step by its own name."""
    if step.startswith(ON_ERROR):
        return step[len(ON_ERROR) :]
    if step.startswith(ON_FAILURE):
        return ON_FAILURE_QUEUE_STEP
    return step


def attribute_name(workflow: str) -> str:
    """The client attribute of a workflow: ``workflows.<attribute>``.

    Characters an identifier cannot hold become ``_``, a leading digit gets a ``_`` before it and a keyword
    a ``_`` after it. The text is NFKC-normalized first, as Python normalizes identifiers when it reads them,
    so two names that Python would read as one attribute are seen to collide here.
    """
    text = unicodedata.normalize("NFKC", workflow)
    ident = "".join(ch if ("a" + ch).isidentifier() else "_" for ch in text)
    if not ident[:1].isidentifier():
        ident = "_" + ident
    if keyword.iskeyword(ident):
        ident += "_"
    return unicodedata.normalize("NFKC", ident)
