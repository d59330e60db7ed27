"""The Redis connection shared by :mod:`pikku.backends.redis.store` and :mod:`pikku.backends.redis.queue`.

One client (with its connection pool) per opened backend; the store and queue of a pair share it, so a
step's hand-off job is enqueued by the same Lua script that settles the step. The client reconnects with
exponential back-off on connection errors; what still fails becomes :class:`BackendUnavailableError`
here, in one place. Key layout and clock: see :mod:`pikku.backends.redis.scripts`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis.asyncio as aioredis
import redis.exceptions
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from pikku._errors import BackendUnavailableError, BackendURLError
from pikku._redact import redact_url
from pikku.backends.redis import scripts as lua

T = TypeVar("T")

_TRANSIENT = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


def parse_url(url: str) -> tuple[str, str]:
    """``(url for redis-py, key prefix)``: pikku's ``prefix`` query parameter is taken off the URL."""
    parts = urlsplit(url)
    if parts.scheme.split("+", 1)[0] != "redis":
        raise BackendURLError(f"{redact_url(url)!r} is not a Redis URL", hint="use redis://host:6379/0")
    query = parse_qsl(parts.query, keep_blank_values=True)
    prefix = next((v for k, v in query if k == "prefix"), "") or "pikku"
    rest = urlencode([(k, v) for k, v in query if k != "prefix"])
    return urlunsplit(("redis", parts.netloc, parts.path, rest, "")), prefix


def attempts_key(prefix: str, run_id: str, name: str) -> str:
    """The list of a step's attempts; the run id's length keeps ``(run, step)`` pairs unambiguous."""
    return f"{prefix}:att:{len(run_id.encode())}:{run_id}:{name}"


class RedisDatabase:
    """A client, its registered scripts and the key prefix; closed when its last user closes."""

    def __init__(self, url: str) -> None:
        client_url, self.prefix = parse_url(url)
        self.client: aioredis.Redis = aioredis.Redis.from_url(
            client_url,
            decode_responses=True,
            # Defaults (URL query parameters override them): bounded connects, and keepalives so a
            # silently dropped connection (NAT, failover), above all the idle pub/sub one, is noticed.
            socket_connect_timeout=10.0,
            socket_keepalive=True,
            retry=Retry(ExponentialBackoff(cap=2.0, base=0.05), retries=6),
            retry_on_error=list(_TRANSIENT),
        )
        self.wake_channel = f"{self.prefix}:wake"
        self._scripts = {name: self.client.register_script(lua.script(name)) for name in lua.PIECES}
        self._users = 0
        self._where = urlsplit(client_url).netloc.rpartition("@")[2] or "localhost"

    def acquire(self) -> RedisDatabase:
        """Count one more user (store or queue) of this client."""
        self._users += 1
        return self

    async def release(self) -> None:
        """One user is done; the client closes with the last."""
        self._users -= 1
        if self._users == 0:
            await self.client.aclose()

    def unavailable(self, exc: BaseException) -> BackendUnavailableError:
        """The coded error for a Redis that stayed unreachable through the client's retries."""
        return BackendUnavailableError(
            f"Redis at {self._where} is unavailable: {str(exc).strip() or type(exc).__name__}",
            hint="check that the server is up and the URL is right; the call may be retried",
        )

    async def run(self, op: Callable[[], Awaitable[T]]) -> T:
        """Await ``op`` (one command, script or pipeline), translating connection failures."""
        try:
            return await op()
        except _TRANSIENT as exc:
            raise self.unavailable(exc) from exc

    async def script(self, name: str, *args: str | int | float) -> Any:
        """Run a registered Lua script (EVALSHA; loaded on first NOSCRIPT) with ``P`` as first ARGV."""
        script = self._scripts[name]
        return await self.run(lambda: script(keys=[], args=[self.prefix, *args]))

    async def pipeline(self, build: Callable[[Any], None]) -> list[Any]:
        """Run the commands ``build`` queues on a pipeline: one round trip."""

        async def op() -> list[Any]:
            async with self.client.pipeline(transaction=False) as pipe:
                build(pipe)
                result: list[Any] = await pipe.execute()
                return result

        return await self.run(op)


async def open_database(url: str) -> RedisDatabase:
    """A client for ``url``, checked with a PING so a wrong URL fails here and not on first use."""
    db = RedisDatabase(url)
    try:
        await db.run(db.client.ping)
    except BackendUnavailableError:
        await db.client.aclose()
        raise
    except redis.exceptions.ResponseError as exc:  # e.g. /99 on a server with 16 databases
        await db.client.aclose()
        raise BackendURLError(
            f"Redis refused {redact_url(url)!r}: {exc}", hint="check the database number (redis://host:6379/0)"
        ) from exc
    return db
