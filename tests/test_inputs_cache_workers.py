"""The cache build's worker count: one process until there are files enough to pay for the
workers' start-up (the parallel build was slower than one process on a small set)."""

from __future__ import annotations

from hms_kit.inputs import cache


def test_one_process_below_the_threshold(monkeypatch):
    monkeypatch.setattr(cache, "default_workers", lambda: 4)
    per = cache.MIN_FILES_PER_WORKER
    assert cache.choose_workers(0) == 1
    assert cache.choose_workers(per - 1) == 1
    assert cache.choose_workers(2 * per) == 2
    assert cache.choose_workers(100 * per) == 4  # never more than the cores


def test_asked_workers_are_kept_but_not_beyond_the_files(monkeypatch):
    monkeypatch.setattr(cache, "default_workers", lambda: 4)
    assert cache.choose_workers(10, workers=3) == 3
    assert cache.choose_workers(2, workers=3) == 2
    assert cache.choose_workers(10, workers=1) == 1
    assert cache.choose_workers(10 * cache.MIN_FILES_PER_WORKER, workers=0) == 4  # 0: choose
