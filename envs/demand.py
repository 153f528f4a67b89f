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
- an optional seasonal multiplier known in advance (``envs.schema.SeasonalitySpec``):
  ``seasonality: {period, amplitude, phase, promotions}``, where the mean in period t is
  ``mean * (1 + amplitude * sin(2*pi*(t + phase) / period))`` times the ``lift`` of a
  promotion covering ``t % period``; or ``seasonality: {calendar: [m_0, m_1, ...]}``, the
  multiplier of each period of a cycle as long as the list. The standard deviation scales
  with the multiplier, so the coefficient of variation is kept.

Across nodes, demand can be correlated through a Gaussian copula
(``demand_correlation`` of the network: a scalar for equicorrelation or a matrix),
or replayed from a CSV trace whose columns are the demand nodes' names.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import special, stats

from envs.sampling import StackedInverseCDF
from envs.schema import ConfigError, DemandDistribution, parse

# Tail mass left out of the inverse-CDF tables; the largest tabulated value absorbs it.
TAIL_MASS = 1e-10
MAX_TABLE_ENTRIES = 20_000_000
"""Most demand values tabulated over all nodes and season phases (160 MB of float64)."""
_TINY, _BELOW_ONE = np.finfo(float).tiny, np.nextafter(1.0, 0.0)


@dataclass(frozen=True)
class DemandSpec:
    """Validated demand distribution of one node (see module docstring)."""

    dist: str
    mean: float
    std: float | None = None
    season: tuple[float, ...] = (1.0,)
    """Multiplier of the mean in each phase of the season cycle (one entry: no season)."""

    @classmethod
    def of(cls, config: Any) -> DemandSpec:
        """From a validated demand config (``envs.schema.DemandDistribution``)."""
        season = config.seasonality
        return cls(
            dist=config.dist,
            mean=float(config.mean),
            std=getattr(config, "std", None),
            season=tuple(season.multipliers().tolist()) if season else (1.0,),
        )

    @property
    def season_period(self) -> int:
        """Whole periods per season cycle (1 when not seasonal)."""
        return len(self.season)

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
        """The multiplier of the mean in each phase 0..season_period-1."""
        return np.array(self.season)

    def top(self, multiplier: float = 1.0) -> int:
        """Largest tabulated demand K at a multiplier (the 1 - TAIL_MASS quantile, + 1)."""
        if self.dist == "deterministic":
            return int(round(self.mean * multiplier))
        dist = self.frozen(multiplier)
        if self.dist == "normal":
            return int(np.ceil(dist.mean() + dist.std() * special.ndtri(1 - TAIL_MASS))) + 1
        return int(dist.ppf(1 - TAIL_MASS)) + 1

    def pmf(self, multiplier: float = 1.0, top: int | None = None) -> np.ndarray:
        """Probabilities of demand 0, 1, ..., K (tail beyond K folded into K)."""
        top = self.top(multiplier) if top is None else top
        if self.dist == "deterministic":
            pmf = np.zeros(top + 1)
            pmf[-1] = 1.0
            return pmf
        dist = self.frozen(multiplier)
        if self.dist == "normal":
            mu, sigma = dist.mean(), dist.std()
            cdf = special.ndtr((np.arange(top + 1) + 0.5 - mu) / sigma)
        else:
            cdf = dist.cdf(np.arange(top + 1))
        cdf[-1] = 1.0
        return np.diff(cdf, prepend=0.0)


def parse_demand(spec: Any, field: str) -> DemandSpec:
    """Validate one node's demand config against the schema (``envs.schema``), naming
    ``field`` in any error."""
    return DemandSpec.of(parse(DemandDistribution, spec, field))


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
                raise ConfigError(
                    f"demand_correlation: need a scalar or a symmetric {self.num_nodes}x"
                    f"{self.num_nodes} matrix, got shape {corr.shape}"
                )
            try:
                self.cholesky = np.linalg.cholesky(corr)
            except np.linalg.LinAlgError:
                raise ConfigError(
                    f"demand_correlation: matrix is not positive definite: {corr.tolist()}"
                ) from None
            if np.allclose(corr, np.eye(self.num_nodes)):
                self.cholesky = None
        self._build_tables()

    def _build_tables(self) -> None:
        # One CDF row per (node, phase of that node's own season); node d's rows start at
        # _first_row[d], so a non-seasonal node has one row whatever its neighbours do.
        # Nodes with the same spec share their rows (a 10,000-store network has few specs).
        unique = list(dict.fromkeys(self.specs))
        tops = {spec: [spec.top(m) for m in spec.multipliers()] for spec in unique}
        entries = sum(t + 1 for row in tops.values() for t in row)
        if entries > MAX_TABLE_ENTRIES:  # checked before anything is allocated
            raise ConfigError(
                f"nodes: the demand tables would hold {entries} values (at most "
                f"{MAX_TABLE_ENTRIES}); lower the demand means/stds or the season periods"
            )
        pmfs, first, row_of = [], [], {}
        for spec in self.specs:
            if spec not in row_of:
                row_of[spec] = len(pmfs)
                pmfs += [spec.pmf(m, t) for m, t in zip(spec.multipliers(), tops[spec])]
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
        raise ConfigError(f"{field}: demand trace file not found: {path!r}")
    frame = pd.read_csv(path)
    missing = [n for n in node_names if n not in frame.columns]
    extra = [c for c in frame.columns if c not in node_names]
    if missing or extra:
        raise ConfigError(
            f"{field}: columns {list(frame.columns)} of {path!r} must be the demand nodes "
            f"{node_names} (missing {missing}, unknown {extra})"
        )
    values = frame[node_names].to_numpy(dtype=float)
    if len(values) == 0:
        raise ConfigError(f"{field}: demand trace {path!r} has no rows")
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise ConfigError(
            f"{field}: demand must be finite and >= 0; {path!r} row {row} column "
            f"{node_names[col]!r} has {values[row, col]!r}"
        )
    return np.round(values)
