"""Job queues: the :class:`JobQueue` Protocol and its backends (chosen by URL in :mod:`pikku._backend`)."""

from pikku.queues._protocol import JobQueue

__all__ = ["JobQueue"]
