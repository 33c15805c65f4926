"""``bitmapist demo`` answers the six questions, from the console script."""

from __future__ import annotations

import subprocess
import sys
from datetime import date

from bitmapist.demo import Simulation, answers, simulate


def test_the_demo_prints_the_six_questions_answered() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "bitmapist", "demo"],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )

    out = completed.stdout
    assert "Simulated 100,000 users over 60 days" in out
    for question in (
        "Has user 123 been online today?",
        "played a song",
        "How many users have been active this month?",
        "this hour",
        "How many unique users played a song this week?",
        "active users active this week",
        "active users active this month",
    ):
        assert question in out


def test_the_simulation_has_believable_retention() -> None:
    simulation = Simulation(users=20_000, days=60, end=date(2026, 1, 31), seed=1)
    bm = simulate(simulation)
    now = simulation.now
    signups = bm.get_day_event("signup", date(2025, 12, 15))
    active = [
        len(signups & bm.get_day_event("active", date(2025, 12, 15 + k)))
        for k in (0, 1, 7, 14)
    ]

    assert active[0] == len(signups) > 0
    assert active[0] > active[1] > active[3] > 0
    assert active[1] > active[2]
    assert 0.02 < active[3] / active[0] < 0.6
    rows = dict(answers(bm, now))
    assert (
        rows["How many users have been active this month?"].replace(",", "").isdigit()
    )
