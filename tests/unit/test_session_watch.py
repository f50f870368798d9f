"""A session that ends cancels its foreground work (components/session_watch.py), on a clock the
test moves. The browser side — a closed tab's Measure stops calling — is
tests/e2e/test_session_end_e2e.py."""

from __future__ import annotations

from components.session_watch import SessionWatch


class Sessions:
    def __init__(self) -> None:
        self.connected = {"tab-a", "tab-b"}
        self.now = 0.0

    def watch(self, grace_s: float = 120.0) -> SessionWatch:
        return SessionWatch(lambda sid: sid in self.connected, grace_s=grace_s, clock=lambda: self.now)


def test_work_of_a_tab_closed_for_longer_than_streamlits_reconnect_window_is_cancelled_once() -> None:
    sessions = Sessions()
    watch = sessions.watch()
    cancelled: list[str] = []
    watch.add("tab-a", lambda: cancelled.append("a"), lambda: False)
    watch.add("tab-b", lambda: cancelled.append("b"), lambda: False)
    sessions.connected.discard("tab-a")  # the tab closed
    for sessions.now in (1.0, 60.0, 120.5):
        watch.check()
    assert cancelled == []  # Streamlit may still resume it: the same tab reconnecting
    sessions.now = 121.5
    watch.check()
    watch.check()
    assert cancelled == ["a"] and watch.watching() == 1  # tab-b's work goes on


def test_a_tab_that_reconnects_within_the_window_keeps_its_work() -> None:
    sessions = Sessions()
    watch = sessions.watch(grace_s=10)
    cancelled: list[str] = []
    watch.add("tab-a", lambda: cancelled.append("a"), lambda: False)
    sessions.connected.discard("tab-a")
    sessions.now = 1.0
    watch.check()
    sessions.connected.add("tab-a")  # a network blip, not a closed tab
    sessions.now = 9.0
    watch.check()
    sessions.connected.discard("tab-a")
    for sessions.now in (15.0, 24.0):
        watch.check()
    assert cancelled == []  # the window counts from the latest disconnect
    sessions.now = 25.5
    watch.check()
    assert cancelled == ["a"]


def test_work_that_finished_by_itself_is_forgotten_and_never_cancelled() -> None:
    sessions = Sessions()
    watch = sessions.watch(grace_s=1)
    done = {"measure": False}
    cancelled: list[str] = []
    watch.add("tab-a", lambda: cancelled.append("a"), lambda: done["measure"])
    done["measure"] = True
    sessions.connected.clear()
    for sessions.now in (0.0, 5.0):
        watch.check()
    assert cancelled == [] and watch.watching() == 0
