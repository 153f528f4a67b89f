"""ABC/XYZ segmentation of a multi-SKU network's demand.

The classical demand segmentation of inventory management (e.g. Silver, Pyke & Thomas,
"Inventory and Production Management in Supply Chains", 4th ed., 2017, section 2.4; the
XYZ extension by variability is standard in practice):

- **ABC by volume**: SKUs sorted by mean demand per period (network-wide, in units), the
  largest first; a SKU is A while the cumulative share of volume up to and including it
  is at most ``a_share`` (80 %), B up to ``b_share`` (95 %), else C. The first SKU is
  always A.
- **XYZ by variability**: the coefficient of variation of the SKU's network-wide demand
  per period (std / mean, the demand points taken as independent): X up to ``x_cv``
  (0.5), Y up to ``y_cv`` (1.0), else Z.

A study reads the classes to decide which SKUs to hold close to customers and which to
centralise or drop-ship (``envs.designs``, placement ``segmented``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from envs.network import Network


@dataclass(frozen=True)
class SkuSegment:
    """One SKU's demand and its class."""

    name: str
    mean: float
    """Mean demand per period, all demand points together (units)."""
    cv: float
    """Coefficient of variation of the demand per period, all points together."""
    abc: str
    xyz: str

    @property
    def segment(self) -> str:
        """The class, e.g. ``AX``."""
        return self.abc + self.xyz


def sku_demand_moments(net: Network) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of each SKU's demand per period, its points summed as independent
    (season phases averaged; a normal's before its rounding): ([S], [S])."""
    if net.skus is None:
        raise ValueError("skus: the network has one product; segmentation needs skus")
    means, variances = np.zeros(net.skus.num_skus), np.zeros(net.skus.num_skus)
    for point, spec in enumerate(net.demand.specs):
        sku = net.skus.point_sku[point]
        phases = spec.season_period
        for m in spec.multipliers():
            dist = spec.frozen(m)  # None: deterministic; a normal before its rounding
            means[sku] += (spec.mean * m if dist is None else dist.mean()) / phases
            variances[sku] += (0.0 if dist is None else dist.var()) / phases
    return means, variances


def abc_xyz(
    net: Network,
    a_share: float = 0.8,
    b_share: float = 0.95,
    x_cv: float = 0.5,
    y_cv: float = 1.0,
) -> tuple[SkuSegment, ...]:
    """The ABC/XYZ class of every SKU of ``net``, in the SKUs' order (module docstring)."""
    means, variances = sku_demand_moments(net)
    cv = np.sqrt(variances) / np.maximum(means, 1e-12)
    order = np.argsort(-means, kind="stable")
    cumulative = np.cumsum(means[order]) / max(means.sum(), 1e-12)
    abc = np.empty(len(means), dtype=object)
    for rank, (sku, share) in enumerate(zip(order, cumulative)):
        # A small tolerance: shares that are exactly 0.8 on paper are 0.8000000001 in floats.
        abc[sku] = (
            "A"
            if rank == 0 or share <= a_share + 1e-9
            else ("B" if share <= b_share + 1e-9 else "C")
        )
    return tuple(
        SkuSegment(
            name=name,
            mean=float(means[s]),
            cv=float(cv[s]),
            abc=str(abc[s]),
            xyz="X" if cv[s] <= x_cv else ("Y" if cv[s] <= y_cv else "Z"),
        )
        for s, name in enumerate(net.skus.names)
    )
