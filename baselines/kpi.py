"""The one KPI meter: what evaluation reports and what TensorBoard shows during training.

``KPIMeter.add`` takes one period of B envs (the cost components [B] each, the flows and
the end-of-period on-hand), and the meter keeps running sums. ``evaluate`` reads
``summary()``. The SB3 callback and the HDPO trainer log ``tags()`` (the same
``cost/*``, ``service/*``, ``inventory/*``, ``flow/*`` names for every agent).

Definitions, per (env, period) pair after warm-up:

- fill rate of a demand node: units filled at once / units demanded;
- cycle service level: share of periods with no shortage (nothing lost or backlogged);
- mean on-hand per node; transfer volume: units shipped on transfer lanes;
- inventory turns: sales / mean on-hand of the whole network (per period).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from envs.network import Network


class KPIMeter:
    """Running sums of the KPIs of B envs over periods (see the module docstring)."""

    def __init__(self, net: Network):
        self.net = net
        self.samples = 0  # (env, period) pairs
        self.costs: dict[str, float] = {}
        self.demand = np.zeros(net.num_demand_nodes)
        self.filled = np.zeros(net.num_demand_nodes)
        self.no_shortage = np.zeros(net.num_demand_nodes)
        self.on_hand = np.zeros(net.num_nodes)
        self.transfer = 0.0
        self.sales = 0.0

    def add(self, costs: dict[str, np.ndarray], flows: Any, on_hand: np.ndarray) -> None:
        """One period of B envs: cost components [B] by name, ``flows`` with ``demand``,
        ``filled``, ``lost``, ``backlog``, ``sales`` [B, D] and ``shipped`` [B, E]
        (attributes or keys), and the end-of-period on-hand [B, N]."""
        get = flows.get if isinstance(flows, dict) else lambda k: getattr(flows, k)
        self.samples += len(on_hand)
        for name, value in costs.items():
            self.costs[name] = self.costs.get(name, 0.0) + float(value.sum())
        self.demand += get("demand").sum(0)
        self.filled += get("filled").sum(0)
        self.no_shortage += ((get("lost") + get("backlog")) == 0).sum(0)
        self.on_hand += on_hand.sum(0)
        self.transfer += float(get("shipped")[:, self.net.is_transfer].sum())
        self.sales += float(get("sales").sum())

    def summary(self) -> dict[str, Any]:
        """Per-(env, period) means: ``breakdown`` (cost by component), ``fill_rate``
        (pooled), ``fill_rate_per_node`` and ``cycle_service_level`` [D], ``mean_on_hand``
        [N], ``transfer_volume``, ``inventory_turns``."""
        n = max(self.samples, 1)
        mean_on_hand = self.on_hand / n
        return {
            "breakdown": {k: v / n for k, v in self.costs.items()},
            "fill_rate": float(self.filled.sum() / max(self.demand.sum(), 1e-12)),
            "fill_rate_per_node": self.filled / np.maximum(self.demand, 1e-12),
            "cycle_service_level": self.no_shortage / n,
            "mean_on_hand": mean_on_hand,
            "transfer_volume": self.transfer / n,
            "inventory_turns": float((self.sales / n) / max(mean_on_hand.sum(), 1e-12)),
        }

    def tags(self) -> dict[str, float]:
        """The summary as TensorBoard scalars, named per node."""
        s, names = self.summary(), self.net.node_names
        out = {f"cost/{k}": float(v) for k, v in s["breakdown"].items()}
        for i, node in enumerate(self.net.demand_nodes):
            out[f"service/fill_rate/{names[node]}"] = float(s["fill_rate_per_node"][i])
            out[f"service/cycle_service_level/{names[node]}"] = float(s["cycle_service_level"][i])
        for node in self.net.stock_nodes:
            out[f"inventory/mean_on_hand/{names[node]}"] = float(s["mean_on_hand"][node])
        out["flow/transfer_volume"] = float(s["transfer_volume"])
        return out
