"""bitmapist 3.119, the incumbent, in a virtual environment of its own.

It shares our package name, so it cannot be imported beside us: the first use
creates a venv outside the source tree (``$BITMAPIST_REFERENCE_VENV``, default
``~/.cache/bitmapist/reference-3.119``) and installs it from the package index;
each workload then runs its half there, in a subprocess, against the same
redis-server, and reports its timings as JSON on stdout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import venv
from pathlib import Path
from typing import Any

VERSION = "3.119"
VENV = Path(
    os.environ.get(
        "BITMAPIST_REFERENCE_VENV",
        Path.home() / ".cache" / "bitmapist" / f"reference-{VERSION}",
    )
)

# Run before every reference script: connects 3.x's "default" system to the
# benchmark's server, and gives a timer that prints the figures it collects.
_PRELUDE = """
import json, sys, time
import bitmapist
ARGS = json.loads(sys.argv[1])
bitmapist.setup_redis("default", "127.0.0.1", ARGS["port"])
RESULTS = {}
def timed(label, function, repeat=1):
    best = None
    for _ in range(repeat):
        started = time.perf_counter()
        value = function()
        elapsed = time.perf_counter() - started
        best = elapsed if best is None else min(best, elapsed)
    RESULTS[label] = best
    return value
"""


def python() -> Path:
    """The reference venv's interpreter, creating the venv on first use."""
    interpreter = VENV / "bin" / "python"
    marker = VENV / f".bitmapist-{VERSION}"
    if not marker.exists():
        print(f"creating {VENV} with bitmapist=={VERSION} ...", file=sys.stderr)
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
        subprocess.run(
            [interpreter, "-m", "pip", "install", "-q", f"bitmapist=={VERSION}"],
            check=True,
        )
        marker.touch()
    return interpreter


def run(script: str, port: int, **arguments: Any) -> dict[str, float]:
    """Run ``script`` under bitmapist 3.119 against the server on ``port``.

    The script sees ``bitmapist`` (3.119), ``ARGS`` and ``timed(label, fn)``;
    the timings it records come back as a dict of seconds.
    """
    source = _PRELUDE + textwrap.dedent(script) + "\nprint(json.dumps(RESULTS))\n"
    completed = subprocess.run(
        [python(), "-c", source, json.dumps({"port": port, **arguments})],
        check=True,
        capture_output=True,
        text=True,
        cwd=VENV,
    )
    return dict(json.loads(completed.stdout.strip().splitlines()[-1]))
