"""`BodyDeadlines`: the sweeper cancels only reads past their time, and says which."""

from __future__ import annotations

import asyncio

from policyc.serve.deadline import BodyDeadlines


async def _read(deadlines: BodyDeadlines, seconds: float) -> str:
    task = deadlines.begin()
    try:
        await asyncio.sleep(seconds)
        return "read"
    except asyncio.CancelledError:
        if not deadlines.ended(task):
            raise
        return "timed out"
    finally:
        deadlines.end(task)


def test_a_slow_read_times_out_and_a_quick_one_does_not() -> None:
    async def main() -> tuple[str, str, int]:
        deadlines = BodyDeadlines(0.2)
        deadlines.start()
        try:
            slow, quick = await asyncio.gather(_read(deadlines, 5), _read(deadlines, 0.01))
            return slow, quick, len(deadlines._reading)
        finally:
            deadlines.stop()

    assert asyncio.run(asyncio.wait_for(main(), 3)) == ("timed out", "read", 0)


def test_a_cancellation_that_is_not_the_sweepers_goes_on() -> None:
    async def main() -> bool:
        deadlines = BodyDeadlines(10)
        deadlines.start()
        try:
            task = asyncio.get_running_loop().create_task(_read(deadlines, 5))
            await asyncio.sleep(0.01)
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                return True
            return False
        finally:
            deadlines.stop()

    assert asyncio.run(main())


def test_without_a_sweeper_nothing_is_tracked() -> None:
    async def main() -> tuple[str, int]:
        deadlines = BodyDeadlines(0.01)
        task = asyncio.get_running_loop().create_task(_read(deadlines, 0.05))
        await asyncio.sleep(0.01)
        tracked = len(deadlines._reading)
        return await task, tracked

    assert asyncio.run(main()) == ("read", 0)
