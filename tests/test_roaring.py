"""The in-process backend under several threads at once."""

from __future__ import annotations

import sys
import threading

from bitmapist import Bitmapist

from .conftest import NOW


def test_threads_marking_and_asking_at_once_lose_nothing() -> None:
    bm = Bitmapist(clock=lambda: NOW)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def mark(worker: int) -> None:
        start.wait()
        try:
            for i in range(400):
                bm.mark_event(f"event-{worker}-{i % 200}", worker * 10_000 + i)
                bm.mark_attribute("seen", worker * 10_000 + i)
        except BaseException as error:
            errors.append(error)

    def ask() -> None:
        start.wait()
        try:
            for _ in range(300):
                bm.get_event_names()
                len(~bm.get_attribute("seen"))
                list(bm.get_attribute("seen"))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=mark, args=(w,)) for w in range(4)]
    threads += [threading.Thread(target=ask) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sys.setswitchinterval(interval)

    assert errors == []
    assert len(bm.get_attribute("seen")) == 1600
    assert len(bm.get_event_names()) == 800
    assert len(bm.get_universe()) == 1600
