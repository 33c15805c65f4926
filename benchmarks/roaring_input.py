"""How fast pyroaring builds a BitMap64 from each form of 1,000,000 ids, and
how fast it hands them back; and how fast numpy finds the set bits of Redis
strings holding them: the measurements behind ``as_bitmap``, ``member_ids``
and ``decode_bitmap``.

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
    # The ids as one Redis string, unpacked to one byte a bit, as decoding does.
    string = np.zeros(4_000_000 // 8, dtype=np.uint8)
    np.bitwise_or.at(
        string, ordered // 8, np.uint8(0x80) >> (ordered % 8).astype(np.uint8)
    )
    bits = np.unpackbits(string)
    flags = bits.view(np.bool_)
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
        ("flatnonzero of unpacked bits, uint8", lambda: np.flatnonzero(bits)),
        ("flatnonzero of unpacked bits, bool", lambda: np.flatnonzero(flags)),
    ):
        print(f"  {label:<36} {best(function, 5) * 1e3:8.1f} ms")


if __name__ == "__main__":
    main()
