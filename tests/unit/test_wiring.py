"""pikku.wiring: the pinned surface generated code is written against."""

from __future__ import annotations

import pikku
import pikku.wiring


def test_wiring_all_is_pinned() -> None:
    """Exactly these names: adding or dropping one changes what every generated package may import."""
    assert pikku.wiring.__all__ == [
        "QueueWorker",
        "StepContext",
        "StepInfo",
        "WorkflowClient",
        "WorkflowHandle",
        "WorkflowInfo",
        "register_workflow_events",
        "register_workflow_meta",
    ]


def test_wiring_names_are_the_runtime_objects() -> None:
    """Each exported name is the runtime's own object (defined in pikku's private modules), not a copy."""
    from pikku import _client, _registry, _services

    for name in pikku.wiring.__all__:
        home = next(m for m in (_client, _registry, _services) if hasattr(m, name))
        assert getattr(pikku.wiring, name) is getattr(home, name), name
