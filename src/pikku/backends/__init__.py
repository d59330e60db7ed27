"""Backends: one package per technology behind one contract (:mod:`pikku.backends._contract`), chosen by
URL scheme (:func:`open_backend`). See ARCHITECTURE.md for how to add one."""

from pikku.backends._contract import BackendModule, JobQueue, StateStore, Transitions
from pikku.backends._registry import Backend, open_backend

__all__ = ["Backend", "BackendModule", "JobQueue", "StateStore", "Transitions", "open_backend"]
