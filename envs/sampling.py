"""Inverse-CDF sampling of many discrete distributions in one call.

Demand (one distribution per node and seasonal phase) and lead times (one per lane)
are drawn by turning uniforms into values through their CDFs. Laying every CDF end
to end, each shifted by its row number, gives one increasing array, so a single
``searchsorted`` draws from a different distribution in every cell of a batch.
"""

from __future__ import annotations

import numpy as np


class StackedInverseCDF:
    """Rows of discrete CDFs over 0..K_r, sampled together.

    Args:
        pmfs: one probability vector per row (row r gives P(X = k) for k = 0..K_r).
    """

    def __init__(self, pmfs: list[np.ndarray]):
        self.num_rows = len(pmfs)
        self.offsets = np.zeros(len(pmfs), dtype=np.int64)
        shifted, start = [], 0
        for row, pmf in enumerate(pmfs):
            cdf = np.cumsum(np.asarray(pmf, dtype=float))
            cdf[-1] = 1.0  # absorb rounding and any truncated tail in the last value
            self.offsets[row] = start
            # Row r spans (r, r + 1]: its last entry equals the first uniform of row r + 1
            # only at u = 0, which callers exclude, so rows never leak into each other.
            shifted.append(cdf + row)
            start += len(cdf)
        self.table = np.concatenate(shifted) if shifted else np.zeros(0)

    def sample(self, uniforms: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Values k (as indices 0..K_r) for uniforms in (0, 1) and their rows (broadcast)."""
        idx = np.searchsorted(self.table, uniforms + rows, side="right")
        return idx - self.offsets[rows]
