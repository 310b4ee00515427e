"""The time-left estimator with an injected clock (deterministic), its text, and the tqdm adapter."""
from __future__ import annotations

import io

import pytest

from covidviewer.explain.progress import TimeLeft, format_time_left, tqdm_progress, with_time_left


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_constant_rate_gives_the_exact_time_left() -> None:
    clock = FakeClock()
    estimate = TimeLeft(clock)
    assert estimate.update(0, 1000) is None  # nothing done yet
    clock.now += 0.5
    assert estimate.update(50, 1000) is None  # under a second: a short job needs no estimate
    clock.now += 0.5
    assert estimate.update(100, 1000) == pytest.approx(9.0)  # 100 samples/s, 900 to go
    clock.now += 3.0
    assert estimate.update(400, 1000) == pytest.approx(6.0)
    assert estimate.update(1000, 1000) == 0.0


def test_the_rate_follows_the_recent_window_not_a_slow_start() -> None:
    clock = FakeClock()
    estimate = TimeLeft(clock, window_s=5.0)
    estimate.update(0, 100)
    clock.now += 20.0  # loading the model: 20 s without progress
    for done in range(10, 60, 10):
        estimate.update(done, 100)
        clock.now += 1.0  # then 10 steps per second
    # whole-job average: 50 steps in 25 s -> 25 s left; recent rate: 10 steps/s -> 5 s left
    assert estimate.update(60, 100) == pytest.approx(4.0, rel=0.3)


def test_a_new_job_starts_over() -> None:
    clock = FakeClock()
    estimate = TimeLeft(clock)
    estimate.update(0, 10)
    clock.now += 2.0
    assert estimate.update(5, 10) == pytest.approx(2.0)
    assert estimate.update(1, 10) is None  # the bar went back: no estimate from the old job's rate
    assert estimate.elapsed_s == 0.0
    assert estimate.update(3, 0) is None  # unknown total


@pytest.mark.parametrize(("seconds", "text"), [
    (None, ""), (0.4, "<1 s left"), (12.4, "~12 s left"), (59.4, "~59 s left"), (150, "~2 min left"),
    (3900, "~1 h 5 min left"),
])
def test_time_left_text(seconds, text) -> None:
    assert format_time_left(seconds) == text


def test_with_time_left_appends_the_estimate_to_the_message() -> None:
    clock = FakeClock()
    seen: list[tuple[int, int, str]] = []
    progress = with_time_left(lambda d, t, m: seen.append((d, t, m)), clock)
    progress(0, 1000, "LIME · dpn92_se: 0/1000 samples")
    clock.now += 3.0
    progress(300, 1000, "LIME · dpn92_se: 300/1000 samples")
    progress(1000, 1000, "done")
    assert seen == [(0, 1000, "LIME · dpn92_se: 0/1000 samples"),
                    (300, 1000, "LIME · dpn92_se: 300/1000 samples, ~7 s left"), (1000, 1000, "done")]


def test_tqdm_progress_moves_the_bar_and_shows_the_message() -> None:
    from tqdm import tqdm

    out = io.StringIO()
    with tqdm(total=0, file=out, mininterval=0) as bar:
        step = tqdm_progress(bar)
        step(25, 100, "dpn92_se: 25/100 samples")
        assert (bar.n, bar.total) == (25, 100)
        assert bar.desc == "dpn92_se: 25/100 samples"
    assert "25/100" in out.getvalue()
