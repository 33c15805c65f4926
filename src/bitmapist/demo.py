"""``bitmapist demo``: simulated activity, and the six questions answered.

Users sign up over the simulated days; until they leave, each is active on a
later day with a probability that falls with the account's age towards a
plateau, scaled by how engaged the user is; after leaving, a user comes back
only rarely. So retention looks like a real product's. Some active
users play songs, and engaged users are more often paying ones. Everything
runs in process on the Roaring backend, through the public API.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from datetime import time as clock_time
from typing import Any

import numpy as np

from .core import Bitmapist

__all__ = ["Simulation", "answers", "register", "simulate"]

USER = 123


@dataclass(frozen=True)
class Simulation:
    users: int = 100_000
    days: int = 60
    end: date = date(2026, 1, 31)
    seed: int = 7

    @property
    def now(self) -> datetime:
        """The moment the questions are asked: 20:30 UTC on the last day."""
        return datetime.combine(self.end, clock_time(20, 30), timezone.utc)


def simulate(simulation: Simulation) -> Bitmapist:
    """A new in-process instance filled with the simulated activity."""
    rng = np.random.default_rng(simulation.seed)
    bm = Bitmapist(clock=lambda: simulation.now)
    ids = np.arange(simulation.users, dtype=np.uint64)
    signup = rng.integers(0, simulation.days, simulation.users)
    engagement = rng.beta(2.0, 3.0, simulation.users)
    # Most users leave for good after a while; engaged ones stay longer.
    lifetime = rng.exponential(4.0 + 40.0 * engagement)
    paid = ids[rng.random(simulation.users) < 0.25 * engagement]
    for uid in paid.tolist():
        bm.mark_attribute("paid_user", uid)
    first = simulation.end - timedelta(days=simulation.days - 1)
    for day in range(simulation.days):
        when = first + timedelta(days=day)
        joined = signup == day
        bm.mark_events("signup", ids[joined], when)
        age = np.maximum(day - signup, 0)
        staying = 0.15 + 0.6 * engagement * (age + 1.0) ** -0.5
        chance = np.where(age < lifetime, staying, 0.01)
        chance[signup == day] = 1.0
        roll = rng.random(simulation.users) < chance
        active = ids[(signup <= day) & roll]
        bm.mark_events("active", active, when)
        hours = rng.integers(0, 24, active.size)
        for hour in range(24):
            moment = datetime.combine(when, clock_time(hour), timezone.utc)
            bm.mark_events(
                "active", active[hours == hour], moment, granularities="hour"
            )
        songs = active[rng.random(active.size) < 0.6]
        bm.mark_events("song:played", songs, when)
    return bm


def answers(bm: Bitmapist, now: datetime) -> list[tuple[str, str]]:
    """The six questions of the product description, answered at ``now``."""
    day, week, month = (
        bm.get_day_event("active", now),
        bm.get_week_event("active", now),
        bm.get_month_event("active", now),
    )
    last_week, last_month = week.prev(), month.prev()

    def yes(found: bool) -> str:
        return "yes" if found else "no"

    def share(part: int, whole: int) -> str:
        return f"{part / whole:.1%} ({part:,} of {whole:,})" if whole else "n/a"

    songs_week = bm.get_week_event("song:played", now)
    paid_month = month & bm.get_attribute("paid_user")
    return [
        (f"Has user {USER} been online today?", yes(USER in day)),
        (f"... this week ({week.period})?", yes(USER in week)),
        (f"... this month ({month.period})?", yes(USER in month)),
        (
            f'Has user {USER} played a song ("song:played") this month?',
            yes(USER in bm.get_month_event("song:played", now)),
        ),
        ("How many users have been active this month?", f"{len(month):,}"),
        (
            f"... this hour ({now:%H}:00 UTC)?",
            f"{len(bm.get_hour_event('active', now)):,}",
        ),
        ("How many unique users played a song this week?", f"{len(songs_week):,}"),
        (
            f"Share of last week's ({last_week.period}) active users active this week",
            share(len(last_week & week), len(last_week)),
        ),
        (
            f"Share of last month's ({last_month.period}) active users "
            "active this month",
            share(len(last_month & month), len(last_month)),
        ),
        (
            "... of this month's active users, paying ones",
            share(len(paid_month), len(month)),
        ),
    ]


def render(rows: list[tuple[str, str]]) -> str:
    width = max(len(question) for question, _ in rows)
    rule = "-" * (width + 2 + max(len(answer) for _, answer in rows))
    lines = [f"{'question':<{width}}  answer", rule]
    lines += [f"{question:<{width}}  {answer}" for question, answer in rows]
    return "\n".join(lines)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo", help="simulate activity in process and answer the six questions"
    )
    defaults = Simulation()
    parser.add_argument("--users", type=int, default=defaults.users)
    parser.add_argument("--days", type=int, default=defaults.days)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument(
        "--end",
        type=date.fromisoformat,
        default=defaults.end,
        help="the last simulated day, YYYY-MM-DD",
    )
    parser.set_defaults(run=run)


def run(arguments: argparse.Namespace) -> int:
    started = time.perf_counter()
    simulation = Simulation(
        arguments.users, arguments.days, arguments.end, arguments.seed
    )
    bm = simulate(simulation)
    filled = time.perf_counter()
    print(
        f"Simulated {simulation.users:,} users over {simulation.days} days "
        f"ending {simulation.end} in {filled - started:.1f} s.\n"
    )
    print(render(answers(bm, simulation.now)))
    print(f"\nAnswered in {time.perf_counter() - filled:.2f} s.")
    return 0
