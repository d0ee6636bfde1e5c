"""Tests for freezelab.widgets.follow: a thread that notices a change and calls back."""

import gc
import time

import pytest

from freezelab.widgets.follow import Follower


class Box:
    def __init__(self):
        self.value, self.shown, self.calls = 0, 0, 0


def wait_until(condition, seconds=2.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def catch_up(box):
    box.shown = box.value
    box.calls += 1


def test_a_change_is_followed_once_and_only_when_it_happens():
    box = Box()
    follower = Follower(box, lambda b: b.value != b.shown, catch_up, interval=0.02)
    time.sleep(0.1)
    assert box.calls == 0  # nothing changed: no call
    box.value = 7
    assert wait_until(lambda: box.shown == 7)
    time.sleep(0.1)
    assert box.calls == 1
    follower.stop()
    assert not follower.running


def test_the_thread_ends_when_its_owner_is_dropped():
    box = Box()
    follower = Follower(box, lambda b: False, catch_up, interval=0.02)
    del box
    gc.collect()
    assert wait_until(lambda: not follower.running)


def test_errors_are_kept_and_stop_the_thread_after_three():
    def broken(_):
        raise RuntimeError("model gone")

    box = Box()
    follower = Follower(box, broken, catch_up, interval=0.01)
    assert wait_until(lambda: not follower.running)
    assert [str(e) for e in follower.errors] == ["model gone"] * 3


@pytest.mark.parametrize("interval", [0, -1, "fast", True])
def test_bad_interval_names_what_was_received(interval):
    with pytest.raises(ValueError, match=r"interval must be a positive number.*Received"):
        Follower(Box(), lambda b: False, catch_up, interval=interval)
