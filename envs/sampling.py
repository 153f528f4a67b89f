"""Inverse-CDF sampling of many discrete distributions in one call.

Demand (one distribution per node and seasonal phase) is drawn by turning uniforms into
values through CDFs: the value for a uniform u is the number of CDF entries <= u. Two
pieces make that fast for a whole batch at once:

- a guide table (Chen & Asau 1974, "indexed search"; Devroye 1986, III.2.4): for each
  row and each of G equal cells of [0, 1), the answer at the cell's left and right
  edges. Two vectorised steps forward finish almost every draw;
- the few uniforms that fall in a cell holding more CDF entries (mostly the last cell,
  the far tail: about one draw in G) are finished by ``searchsorted`` in their own row.

The result is exactly ``searchsorted(cdf_r, u, side="right")`` for every draw; the guide
only avoids numpy's per-query binary search, which dominates at batch sizes of 10^3.
"""

from __future__ import annotations

import numpy as np

GUIDE_CELLS = 4096  # a power of two, so u * G and g / G are exact in floating point
GUIDE_STEPS = 2  # entries a cell may hold and still be finished by the guide


class StackedInverseCDF:
    """Rows of discrete CDFs over 0..K_r, sampled together.

    Args:
        pmfs: one probability vector per row (row r gives P(X = k) for k = 0..K_r).
    """

    def __init__(self, pmfs: list[np.ndarray]):
        self.offsets = np.zeros(len(pmfs), dtype=np.int64)
        cdfs, start = [], 0
        for row, pmf in enumerate(pmfs):
            cdf = np.cumsum(np.asarray(pmf, dtype=float))
            cdf[-1] = 1.0  # absorb rounding and any truncated tail in the last value
            self.offsets[row] = start
            cdfs.append(cdf)
            start += len(cdf)
        self.cdf = np.concatenate(cdfs) if cdfs else np.zeros(0)
        self.rows = cdfs
        edges = np.arange(GUIDE_CELLS + 1) / GUIDE_CELLS
        counts = np.zeros((len(cdfs), GUIDE_CELLS + 1), dtype=np.int64)
        for row, cdf in enumerate(cdfs):
            counts[row] = np.searchsorted(cdf, edges, side="right")
        # Answer at each cell's left edge; int32 (a count of CDF entries) halves the cache
        # lines a batch of draws touches.
        self.guide = counts[:, :-1].reshape(-1).astype(np.int32)
        self.wide = (np.diff(counts, axis=1) > GUIDE_STEPS).reshape(-1)

    def sample(self, uniforms: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Values k (indices 0..K_r) for uniforms in (0, 1) and their rows (broadcast)."""
        key = rows * GUIDE_CELLS + (uniforms * GUIDE_CELLS).astype(np.int64)
        first = self.offsets[rows]
        value = self.guide[key]
        for _ in range(GUIDE_STEPS):
            value += self.cdf[first + value] <= uniforms
        wide = self.wide[key]
        if wide.any():
            rows_wide = np.broadcast_to(rows, uniforms.shape)[wide]
            value[wide] = self._finish(uniforms[wide], rows_wide)
        return value

    def _finish(self, u: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Count of CDF entries <= u for the (few) uniforms the guide could not finish."""
        out = np.empty(len(u), dtype=np.int64)
        for row in np.unique(rows):  # rows present among the rare wide cells only
            mine = rows == row
            out[mine] = np.searchsorted(self.rows[row], u[mine], side="right")
        return out
