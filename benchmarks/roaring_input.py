"""How fast pyroaring builds a BitMap64 from each form of 1,000,000 ids, and
how fast it hands them back: the measurement behind ``as_bitmap`` and
``member_ids``.

    python benchmarks/roaring_input.py
"""

from __future__ import annotations

import array

import numpy as np
from pyroaring import BitMap64
from workloads.common import best


def main() -> None:
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 4_000_000, 1_000_000).astype(np.uint64)
    ordered = np.sort(ids)
    bitmap = BitMap64(ids)
    for label, function in (
        ("BitMap64(numpy array)", lambda: BitMap64(ids)),
        (
            "BitMap64(array.array('Q'))",
            lambda: BitMap64(array.array("Q", ids.tobytes())),
        ),
        ("BitMap64(sorted numpy array)", lambda: BitMap64(ordered)),
        (
            "BitMap64(sorted array.array('Q'))",
            lambda: BitMap64(array.array("Q", ordered.tobytes())),
        ),
        ("BitMap64().update(numpy array)", lambda: BitMap64().update(ids)),
        ("np.asarray(bitmap.to_array())", lambda: np.asarray(bitmap.to_array())),
        ("list(bitmap)", lambda: list(bitmap)),
        ("sorted numpy array .tolist()", ordered.tolist),
    ):
        print(f"  {label:<36} {best(function, 5) * 1e3:8.1f} ms")


if __name__ == "__main__":
    main()
