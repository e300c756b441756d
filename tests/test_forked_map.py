"""Work shared out between forked processes: every item done once, failures left to the caller."""

from __future__ import annotations

import os

import pytest

from artver.errors import Interrupted
from artver.forked_map import BATCH, forked_map


def no_children_left() -> bool:
    try:
        os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


def run(func, items, workers):
    seen: list[tuple[int, object, int]] = []
    events: list[str] = []
    undone = forked_map(
        func,
        items,
        workers,
        lambda item, result: seen.append((item, result, os.getpid())),
        started=lambda: events.append("started"),
    )
    return seen, undone, events


@pytest.mark.parametrize("workers", [2, 3])
def test_every_item_is_done_exactly_once_with_its_result(workers):
    items = list(range(1000))
    seen, undone, events = run(lambda i: (i, str(i * i)), items, workers)
    assert undone == []
    assert sorted(item for item, _, _ in seen) == items
    assert all(result == (item, str(item * item)) for item, result, _ in seen)
    assert {pid for _, _, pid in seen} == {os.getpid()}  # results are reported by the caller
    assert events == ["started"]
    assert no_children_left()


def test_what_a_child_could_not_do_is_left_to_the_caller():
    items = list(range(600))
    bad = 450 + BATCH // 2  # in the second half: a child's share

    def func(i: int) -> int:
        if i == bad:
            raise OSError("unreadable")
        return -i

    seen, undone, _ = run(func, items, 2)
    done = sorted(item for item, _, _ in seen)
    assert sorted(done + undone) == items  # each item either done or handed back, never both
    assert bad in undone
    assert set(range(300)) <= set(done)  # the caller's own share
    assert all(result == -item for item, result, _ in seen)
    assert no_children_left()


def test_results_that_cannot_cross_the_pipe_leave_the_items_to_the_caller():
    class Opaque:
        pass

    seen, undone, _ = run(lambda i: Opaque() if i >= 500 else i, list(range(1000)), 2)
    assert sorted(undone) == list(range(500, 1000))
    assert sorted(item for item, _, _ in seen) == list(range(500))
    assert no_children_left()


def test_what_the_caller_could_not_do_in_its_own_share_is_left_to_it_too():
    def func(i: int) -> int:
        if i == 10:
            raise ValueError("broken item 10")
        return i

    seen, undone, _ = run(func, list(range(1000)), 2)
    assert sorted(undone) == list(range(10, 500))  # the failed item and the rest of the share
    assert sorted(item for item, _, _ in seen) == [*range(10), *range(500, 1000)]
    assert no_children_left()


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, Interrupted])
def test_interrupts_are_raised_not_taken_for_failed_items(interrupt):
    # The CLI turns Ctrl-C into artver's Interrupted, an ordinary exception: it must still stop
    # the command, not send the item to be redone.
    def func(i: int) -> int:
        if i == 10:
            raise interrupt("interrupted")
        return i

    with pytest.raises(interrupt):
        run(func, list(range(1000)), 2)
    assert no_children_left()
