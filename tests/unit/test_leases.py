"""LeaseKeeper: a timer for short work, a renewing task from a third of the lease on, stopped by cancel."""

from __future__ import annotations

import asyncio

from pikku._engine.leases import LeaseKeeper


class Renewals:
    def __init__(self, answers: list[bool | Exception] | None = None) -> None:
        self.times: list[float] = []
        self._answers = answers or []

    async def __call__(self) -> bool:
        self.times.append(asyncio.get_running_loop().time())
        if self._answers:
            answer = self._answers.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer
        return True


async def test_work_shorter_than_a_third_of_the_lease_never_renews() -> None:
    renew = Renewals()
    keeper = LeaseKeeper(renew, 0.3, "test")
    await asyncio.sleep(0.05)
    keeper.cancel()
    await asyncio.sleep(0.2)
    assert renew.times == [] and not keeper.renewing


async def test_longer_work_renews_every_third_until_cancelled() -> None:
    renew = Renewals()
    start = asyncio.get_running_loop().time()
    keeper = LeaseKeeper(renew, 0.15, "test")
    await asyncio.sleep(0.33)
    assert keeper.renewing
    keeper.cancel()
    count = len(renew.times)
    await asyncio.sleep(0.15)
    assert count >= 2 and len(renew.times) == count  # every ~0.05 s from 0.05 s on; none after cancel
    assert renew.times[0] - start >= 0.045


async def test_a_refused_renewal_stops_and_a_failed_one_is_tried_again() -> None:
    renew = Renewals([ConnectionError("blip"), True, False])
    keeper = LeaseKeeper(renew, 0.06, "test")
    await asyncio.sleep(0.25)
    assert len(renew.times) == 3 and not keeper.renewing
    keeper.cancel()
