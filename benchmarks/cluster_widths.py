"""How the shard width spreads memory's workload over a 3-master cluster.

    python benchmarks/cluster_widths.py

The dense workload of ``memory.py`` (1,000,000 users, 30 days of day, week
and month bitmaps, seed 2025) on a Redis Cluster of 3 masters this script
starts, at shard widths from the default up: MEMORY USAGE per master, and
the fullest master over the mean, which issue 3 holds to 1.5x. Wider shards
make queries over many ids take fewer commands (``speed.py`` times the
count at these widths); with fewer shards, a population spreads over fewer
masters.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from memory import make_workload, measure_cluster, width_name

from bitmapist.testing import running_cluster

WIDTHS = (2**16 - 48, 2**17 - 48, 2**18 - 48, 2**20 - 80)


def main() -> int:
    workload = make_workload("dense", 1_000_000, 30, 2025)
    print("width    | bytes per master                | total      | fullest/mean")
    with running_cluster(3) as cluster:
        client = cluster.client()
        for width in WIDTHS:
            figures = measure_cluster(client, workload, width, id_map=False)
            masters = ", ".join(f"{n:,}" for n in figures.per_master)
            print(
                f"{width_name(width):8} | {masters:31} | {figures.total:,} | "
                f"{figures.balance:.2f}"
            )
        client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
