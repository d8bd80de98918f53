"""The bands of a ``MinHashLSH``, with numpy alone: the release config's near_duplicates are checked with them
when it is read (:mod:`khabar.dataset.release`: a threshold and num_perm that give a single band are refused
there, before any input is read), and :mod:`khabar.dataset.splits` finds its candidate pairs with them."""

from __future__ import annotations

import numpy as np

from khabar.foundation.errors import KhabarError


def lsh_bands(threshold: float, num_perm: int) -> list[tuple[int, int]]:
    """The bands (first and last-plus-one value of each) of ``MinHashLSH(threshold, num_perm)``.

    Like datasketch, the number of bands b and their size r (b·r ≤ num_perm) are those that minimise
    the mean of the false positive and false negative probabilities, ∫₀ᵗ 1 − (1 − sʳ)ᵇ ds and
    ∫ₜ¹ (1 − sʳ)ᵇ ds, the first (b, then r) on a tie. The integrands are polynomials of degree
    b·r ≤ num_perm, which Gauss–Legendre quadrature of num_perm/2 + 1 nodes integrates exactly
    (datasketch asks scipy's adaptive ``quad``: both choose the same b and r for every threshold from
    0.01 to 1 in steps of 0.01 with num_perm 2, 3, 8, 16, 32, 64, 100, 128, 200 and 256; the tests
    compare a part of that grid).
    """
    nodes, weights = np.polynomial.legendre.leggauss(num_perm // 2 + 1)
    candidates = np.array([(b, r) for b in range(1, num_perm + 1) for r in range(1, num_perm // b + 1)], dtype=np.float64)
    b, r = candidates[:, :1], candidates[:, 1:]
    below = threshold / 2 * (nodes + 1)  # the nodes mapped onto [0, threshold] and onto [threshold, 1]
    above = threshold + (1 - threshold) / 2 * (nodes + 1)
    false_positive = threshold / 2 * ((1 - (1 - below**r) ** b) @ weights)
    false_negative = (1 - threshold) / 2 * (((1 - above**r) ** b) @ weights)
    bands, rows = (int(n) for n in candidates[np.argmin(0.5 * false_positive + 0.5 * false_negative)])
    if bands < 2:
        raise KhabarError(
            f"near_duplicates: a threshold of {threshold} with num_perm = {num_perm} gives LSH a single band of {rows} "
            "hash values (MinHashLSH needs two or more); lower the threshold or raise num_perm"
        )
    return [(i * rows, (i + 1) * rows) for i in range(bands)]
