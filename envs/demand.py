"""Customer demand processes at demand nodes.

Every distribution is turned once into an inverse-CDF table (one per seasonal
phase), so drawing demand in the hot path is a single ``searchsorted`` of
uniform random numbers, whatever the mix of distributions across nodes
(``envs.sampling.StackedInverseCDF``).

Supported per node (``dist``):
- ``poisson`` (``mean``)
- ``negative_binomial`` (``mean``, ``std`` with std**2 > mean), scipy's ``nbinom``
- ``normal`` (``mean``, ``std``), rounded to the nearest whole unit and at zero:
  P(X=k) = Phi((k+0.5-mu)/sigma) - Phi((k-0.5-mu)/sigma), P(X=0) = Phi((0.5-mu)/sigma)
- ``deterministic`` (``mean``, a whole number)
- an optional seasonal multiplier ``seasonality: {period, amplitude, phase}``:
  the mean in period t is ``mean * (1 + amplitude * sin(2*pi*(t + phase) / period))``
  (the standard deviation scales with it, so the coefficient of variation is kept).

Across nodes, demand can be correlated through a Gaussian copula
(``demand_correlation`` of the network: a scalar for equicorrelation or a matrix),
or replayed from a CSV trace whose columns are the demand nodes' names.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import special, stats

from envs.sampling import StackedInverseCDF

# Tail mass left out of the inverse-CDF tables; the largest tabulated value absorbs it.
TAIL_MASS = 1e-10
_TINY, _BELOW_ONE = np.finfo(float).tiny, np.nextafter(1.0, 0.0)


@dataclass(frozen=True)
class DemandSpec:
    """Validated demand distribution of one node (see module docstring)."""

    dist: str
    mean: float
    std: float | None = None
    season_period: int = 1
    season_amplitude: float = 0.0
    season_phase: float = 0.0

    def frozen(self, multiplier: float = 1.0):
        """The scipy.stats distribution (discrete, or normal before rounding) at a multiplier."""
        mean = self.mean * multiplier
        if self.dist == "poisson":
            return stats.poisson(mean)
        if self.dist == "negative_binomial":
            var = (self.std * multiplier) ** 2
            p = mean / var
            return stats.nbinom(mean * p / (1 - p), p)
        if self.dist == "normal":
            return stats.norm(mean, self.std * multiplier)
        return None

    def multipliers(self) -> np.ndarray:
        t = np.arange(self.season_period)
        return 1.0 + self.season_amplitude * np.sin(
            2 * np.pi * (t + self.season_phase) / self.season_period
        )

    def pmf(self, multiplier: float = 1.0) -> np.ndarray:
        """Probabilities of demand 0, 1, ..., K (tail beyond K folded into K)."""
        if self.dist == "deterministic":
            pmf = np.zeros(int(round(self.mean * multiplier)) + 1)
            pmf[-1] = 1.0
            return pmf
        dist = self.frozen(multiplier)
        if self.dist == "normal":
            mu, sigma = dist.mean(), dist.std()
            top = int(np.ceil(mu + sigma * special.ndtri(1 - TAIL_MASS))) + 1
            edges = (np.arange(top + 1) + 0.5 - mu) / sigma
            cdf = special.ndtr(edges)
        else:
            top = int(dist.ppf(1 - TAIL_MASS)) + 1
            cdf = dist.cdf(np.arange(top + 1))
        cdf[-1] = 1.0
        return np.diff(cdf, prepend=0.0)


def parse_demand(spec: Any, field: str) -> DemandSpec:
    """Validate one node's demand config, naming ``field`` in any error."""
    if not isinstance(spec, Mapping):
        raise ValueError(f"{field}: demand must be a mapping like {{dist: poisson, mean: 5}}")
    dist = spec.get("dist", "poisson")
    known = ("poisson", "negative_binomial", "normal", "deterministic")
    if dist not in known:
        raise ValueError(f"{field}.dist: unknown demand distribution {dist!r}; known: {known}")
    mean = spec.get("mean")
    if mean is None or not np.isfinite(float(mean)) or float(mean) < 0:
        raise ValueError(f"{field}.mean: must be a finite number >= 0, got {mean!r}")
    mean = float(mean)
    std = spec.get("std")
    if dist in ("normal", "negative_binomial"):
        if std is None or not float(std) > 0:
            raise ValueError(f"{field}.std: must be > 0 for {dist} demand, got {std!r}")
        std = float(std)
        if dist == "negative_binomial" and std**2 <= mean:
            raise ValueError(
                f"{field}.std: negative binomial needs variance > mean, got std={std} mean={mean}"
            )
    if dist == "deterministic" and not mean.is_integer():
        raise ValueError(f"{field}.mean: deterministic demand must be whole, got {mean}")
    season = spec.get("seasonality") or {}
    period = int(season.get("period", 1))
    amplitude = float(season.get("amplitude", 0.0))
    if period < 1:
        raise ValueError(f"{field}.seasonality.period: must be >= 1, got {period}")
    if not 0 <= amplitude < 1:
        raise ValueError(f"{field}.seasonality.amplitude: must be in [0, 1), got {amplitude}")
    return DemandSpec(
        dist=dist,
        mean=mean,
        std=std,
        season_period=period,
        season_amplitude=amplitude,
        season_phase=float(season.get("phase", 0.0)),
    )


class DemandModel:
    """Demand of all D demand nodes, drawn from uniforms by inverse-CDF lookup.

    The tables of all (phase, node) pairs are laid end to end in one increasing
    array (each CDF shifted by its row number), so one ``searchsorted`` draws
    every node's demand at once.
    """

    def __init__(
        self,
        specs: list[DemandSpec],
        node_names: list[str],
        correlation: Any = None,
        trace: np.ndarray | None = None,
    ):
        self.specs = specs
        self.num_nodes = len(specs)
        self.trace = trace
        self.season_period = int(np.lcm.reduce([s.season_period for s in specs] or [1]))
        """Length of the joint season cycle of all nodes (1 when none is seasonal)."""
        self.node_names = list(node_names)
        self.mean_demand = (
            trace.mean(axis=0)
            if trace is not None
            else np.array([np.mean(s.mean * s.multipliers()) for s in specs])
        )
        """Long-run mean demand per period of each demand node [D]."""
        self.cholesky = None
        if correlation is not None and self.num_nodes > 1:
            corr = np.asarray(correlation, dtype=float)
            if corr.ndim == 0:
                corr = np.full((self.num_nodes, self.num_nodes), float(corr))
                np.fill_diagonal(corr, 1.0)
            if corr.shape != (self.num_nodes, self.num_nodes) or not np.allclose(corr, corr.T):
                raise ValueError(
                    f"demand_correlation: need a scalar or a symmetric {self.num_nodes}x"
                    f"{self.num_nodes} matrix, got shape {corr.shape}"
                )
            try:
                self.cholesky = np.linalg.cholesky(corr)
            except np.linalg.LinAlgError:
                raise ValueError(
                    f"demand_correlation: matrix is not positive definite: {corr.tolist()}"
                ) from None
            if np.allclose(corr, np.eye(self.num_nodes)):
                self.cholesky = None
        self._build_tables()

    def _build_tables(self) -> None:
        # One CDF row per (node, phase of that node's own season); node d's rows start at
        # _first_row[d], so a non-seasonal node has one row whatever its neighbours do.
        # Nodes with the same spec share their rows (a 10,000-store network has few specs).
        pmfs, first, row_of = [], [], {}
        for spec in self.specs:
            if spec not in row_of:
                row_of[spec] = len(pmfs)
                pmfs += [spec.pmf(m) for m in spec.multipliers()]
            first.append(row_of[spec])
        self._sampler = StackedInverseCDF(pmfs)
        self._first_row = np.array(first, dtype=np.int64)
        self._node_period = np.array([s.season_period for s in self.specs], dtype=np.int64)
        self._seasonal = bool(np.any(self._node_period > 1))

    def inverse_cdf_tables(self) -> tuple[np.ndarray, ...] | None:
        """The sampler's tables for compiled code: (cdf, row offsets, row lengths, guide,
        wide, first row per node, season period per node); None when demand is a trace
        or copula-correlated (only ``draw`` samples those)."""
        if self.trace is not None or self.cholesky is not None:
            return None
        sampler = self._sampler
        return (
            sampler.cdf,
            sampler.offsets,
            np.array([len(r) for r in sampler.rows], dtype=np.int64),
            sampler.guide,
            sampler.wide,
            self._first_row,
            self._node_period,
        )

    def pmf(self, node: int, period: int = 0) -> np.ndarray:
        """Demand pmf of one node in a given period (for exact baselines)."""
        spec = self.specs[node]
        return spec.pmf(spec.multipliers()[period % spec.season_period])

    def draw(self, uniforms: np.ndarray, period: np.ndarray) -> np.ndarray:
        """Demand [B, D] from uniforms [B, D] in (0, 1) at each env's period [B]."""
        if self.trace is not None:
            return self.trace[period % len(self.trace)].astype(float)
        if self.cholesky is not None:
            # Gaussian copula: correlate standard normals, map back to uniforms.
            uniforms = special.ndtr(special.ndtri(uniforms) @ self.cholesky.T)
            # ndtr rounds z > 8.3 to exactly 1.0 (p ~ 1e-16); keep uniforms inside (0, 1).
            uniforms = np.clip(uniforms, _TINY, _BELOW_ONE)
        rows = self._first_row
        if self._seasonal:
            if period[0] == period[-1] and (period == period[0]).all():
                rows = rows + period[0] % self._node_period  # envs in step: one phase
            else:
                rows = rows + period[:, None] % self._node_period
        return self._sampler.sample(uniforms, rows).astype(float)


def load_trace(path: str, node_names: list[str], field: str = "demand_trace") -> np.ndarray:
    """Read a demand trace CSV whose columns are exactly the demand nodes' names.

    Returns:
        Array [T, D] of whole non-negative demands, columns in ``node_names`` order.
    """
    if not os.path.exists(path):
        raise ValueError(f"{field}: demand trace file not found: {path!r}")
    frame = pd.read_csv(path)
    missing = [n for n in node_names if n not in frame.columns]
    extra = [c for c in frame.columns if c not in node_names]
    if missing or extra:
        raise ValueError(
            f"{field}: columns {list(frame.columns)} of {path!r} must be the demand nodes "
            f"{node_names} (missing {missing}, unknown {extra})"
        )
    values = frame[node_names].to_numpy(dtype=float)
    if len(values) == 0:
        raise ValueError(f"{field}: demand trace {path!r} has no rows")
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise ValueError(
            f"{field}: demand must be finite and >= 0; {path!r} row {row} column "
            f"{node_names[col]!r} has {values[row, col]!r}"
        )
    return np.round(values)
