"""Cadence (every N steps or S seconds) and Throttle (at most every S seconds) on a fake clock."""
from __future__ import annotations

from easy_rec.training.cadence import Cadence, Throttle


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_steps_cadence_fires_every_n_steps_counted_from_the_last_mark():
    cadence = Cadence(steps=3, clock=FakeClock())
    cadence.mark(10)  # e.g. resumed at step 10
    assert [step for step in range(11, 20) if cadence.due(step)] == [13, 14, 15, 16, 17, 18, 19]
    fired = []
    for step in range(11, 21):
        if cadence.due(step):
            fired.append(step)
            cadence.mark(step)
    assert fired == [13, 16, 19]
    assert cadence.last_step == 19


def test_secs_cadence_fires_once_the_interval_has_passed_since_the_mark():
    clock = FakeClock()
    cadence = Cadence(secs=60, clock=clock)
    clock.now += 59.9
    assert not cadence.due(1_000_000)  # steps are off
    clock.now += 0.1
    assert cadence.due(2)
    cadence.mark(2)
    assert cadence.last_step == 2
    assert not cadence.due(3)
    clock.now += 60
    assert cadence.due(3)


def test_either_trigger_fires_a_cadence_with_both():
    clock = FakeClock()
    by_steps = Cadence(steps=5, secs=60, clock=clock)
    assert by_steps.due(5) and not by_steps.due(4)
    clock.now += 60
    assert by_steps.due(1)


def test_cadence_with_both_triggers_off_never_fires():
    clock = FakeClock()
    cadence = Cadence(clock=clock)
    clock.now += 1e9
    assert not cadence.due(10**9)


def test_throttle_is_ready_at_first_then_at_most_every_interval():
    clock = FakeClock()
    throttle = Throttle(30, clock=clock)
    assert throttle.ready()
    throttle.mark()
    clock.now += 29
    assert not throttle.ready()
    clock.now += 1
    assert throttle.ready()


def test_throttle_without_interval_is_always_ready():
    throttle = Throttle(0, clock=FakeClock())
    throttle.mark()
    assert throttle.ready()
