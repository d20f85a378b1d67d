"""constrain.budget.time_limit: the alarm interrupts a long call, and never outlives its block."""
from __future__ import annotations

import sys
import time

import pytest

from constrain import budget
from constrain.errors import CompileBudgetError


def test_interrupts_a_long_call():
    t0 = time.monotonic()
    with pytest.raises(CompileBudgetError):
        with budget.time_limit(0.05, "spin"):
            while True:
                pass
    assert time.monotonic() - t0 < 2.0 and not budget._active


def test_a_swallowed_alarm_fires_again():
    """A raise lost where Python drops exceptions (a weakref callback, a finalizer) must not end
    the limit: the timer repeats until the block is left."""
    swallowed = 0
    t0 = time.monotonic()
    with pytest.raises(CompileBudgetError):
        with budget.time_limit(0.05, "spin"):
            while time.monotonic() - t0 < 3.0:  # a lost alarm ends here, and the test fails
                try:
                    while time.monotonic() - t0 < 3.0:
                        pass
                except CompileBudgetError:
                    swallowed += 1
                    if swallowed >= 3:
                        raise
    assert swallowed == 3 and time.monotonic() - t0 < 2.0 and not budget._active


def test_alarm_at_the_block_end_never_leaves_the_limit_active():
    """Budgets that expire right around the end of their block (the race that once left ``_active``
    set, turning every later limit into a no-op: a hostile-pattern test then hung in CI)."""
    for i in range(3000):
        try:
            with budget.time_limit(0.0002 * (i % 7 + 1)):
                x = 0
                for k in range(2000 * (i % 5)):
                    x += k
        except CompileBudgetError:
            pass
        assert not budget._active, i
    with pytest.raises(CompileBudgetError):  # and the next limit still fires
        with budget.time_limit(0.05):
            while True:
                pass


def test_alarm_inside_the_cleanup_is_harmless(monkeypatch):
    """Deterministic form of that race: the alarm arrives while the block's cleanup restores the
    old handler. The limit must still end inactive, and the block's result stand."""
    import signal as _signal

    real = _signal.signal
    current = {}

    def signal_(sig, handler):
        if sig == _signal.SIGALRM and "h" in current and handler is not current["h"]:
            current["h"](sig, None)  # the alarm fires just now
        current["h"] = handler
        return real(sig, handler)

    monkeypatch.setattr(budget.signal, "signal", signal_)
    try:
        with budget.time_limit(5.0):
            pass
    except CompileBudgetError:
        pass
    assert not budget._active


def test_a_dropped_alarm_is_not_reported_as_unraisable(monkeypatch):
    """A budget error dropped in a finalizer is not handed to sys.unraisablehook while the limit
    is armed (pytest's hook would fail the test it lands in); other dropped errors still are,
    and the hook is restored when the block ends."""
    seen = []
    hook = seen.append
    monkeypatch.setattr(sys, "unraisablehook", hook)

    class Budget:
        def __del__(self):
            raise CompileBudgetError("dropped")

    class Other:
        def __del__(self):
            raise ValueError("dropped")

    with budget.time_limit(5.0, "finalizers"):
        Budget()
        Other()
    assert [u.exc_type for u in seen] == [ValueError]
    assert sys.unraisablehook is hook
    Budget()  # outside a limit it is reported as usual
    assert [u.exc_type for u in seen] == [ValueError, CompileBudgetError]
