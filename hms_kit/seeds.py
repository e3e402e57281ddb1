"""Seeds of named random streams, shared by the engine and the augmentations.

A stream is named by a tuple of integers (run seed, fold, stage, epoch, a consumer's number,
...) and gets a seed of its own, so that what one consumer draws, or whether it draws at all,
never moves another's draws.
"""

from __future__ import annotations

import numpy as np


def stream_seed(*parts: int) -> int:
    """One 31-bit seed for a stream named by ``parts`` (e.g. run seed, fold, stage, epoch),
    mixed by ``np.random.SeedSequence`` so that no two names share a stream. Sums such as
    ``seed + 100 * stage + epoch`` do: the next run seed's epoch e replays this one's epoch
    e + 1, so the seeds of a repeated run trained on each other's batches one epoch apart.
    Each part is three words (its sign, then the low and high 32 bits of its magnitude
    modulo 2**64) after a count of parts: SeedSequence alone would pad ``(42,)`` to
    ``(42, 0)`` and split a part of 2**32 into two."""
    entropy = [len(parts)]
    for p in (int(p) for p in parts):
        m = abs(p) % 2**64
        entropy += [int(p < 0), m & 0xFFFFFFFF, m >> 32]
    return int(np.random.SeedSequence(entropy).generate_state(1)[0] >> 1)
