"""State stores: the :class:`StateStore` Protocol and its backends (chosen by URL in :mod:`pikku._backend`)."""

from pikku.stores._protocol import StateStore

__all__ = ["StateStore"]
