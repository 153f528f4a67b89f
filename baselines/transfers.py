"""Lateral transfer rules, combinable with any replenishment policy.

A transfer rule answers ``act(state) -> quantities [B, E]`` that are zero except on the
network's transfer lanes; ``WithTransfers(replenishment, rule)`` adds them to a
replenishment policy's orders (which use replenishment lanes only), so any policy of
``baselines.policies`` gains lateral transshipments without knowing about them.

Rules:

- ``NoTransfers``: never transship.
- ``Rebalance``: a days-of-supply rule (Paterson, Kiesmüller, Teunter & Glazebrook 2011,
  "Inventory models with lateral transshipments: a review", EJOR 210, Section 4: reactive
  and proactive rebalancing by stock thresholds). A node's projected days of supply is its
  inventory position (on-hand + inbound in transit − backlog) divided by the mean demand
  per period it serves. Nodes below ``low_days`` receive from transfer-lane neighbours above
  ``high_days``: each receiver asks for what lifts it to ``low_days``, each donor gives at
  most its surplus above ``high_days`` (and at most its on-hand). A receiver with several
  donors splits its need in proportion to their surplus; a donor asked by several receivers
  scales the requests down to its surplus. Quantities are rounded down to whole units.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from baselines.policy_base import Policy
from baselines.rollout import PeriodNoise
from baselines.structure import replenishment_tree
from envs.network import Network, downstream_mean_demand
from envs.transition import State

__all__ = ["NoTransfers", "Rebalance", "WithTransfers"]


class NoTransfers(Policy):
    """The rule that never transships."""

    def __init__(self, net: Network | None = None):
        self.net = net

    def act(self, state: State) -> np.ndarray:
        lanes = state.pipeline.shape[1]
        return np.zeros((state.num_envs, lanes))

    def describe(self) -> dict:
        return {"rule": "none"}


def _threshold(name: str, value: Any) -> np.ndarray:
    """A threshold in periods of demand: a scalar, or one per env [B] (tuning batches)."""
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected a number of periods, got {value!r}") from None
    if arr.ndim > 1 or not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ValueError(
            f"{name}: must be a finite number >= 0, got {np.asarray(value).tolist()!r}"
        )
    return arr


class Rebalance(Policy):
    """Days-of-supply rebalancing over the transfer lanes (see module docstring).

    Args:
        net: the network (with transfer lanes; without them the rule does nothing).
        low_days: nodes whose projected days of supply is below this receive (>= 0).
        high_days: nodes above this may give their surplus above it (>= low_days).
    """

    def __init__(self, net: Network, low_days: Any = 2.0, high_days: Any = 5.0):
        self.net = net
        self.low_days = _threshold("low_days", low_days)
        self.high_days = _threshold("high_days", high_days)
        if np.any(self.high_days < self.low_days):
            raise ValueError(
                f"high_days: must be >= low_days={self.low_days.tolist()}, "
                f"got {self.high_days.tolist()}"
            )
        self.lanes = np.flatnonzero(net.is_transfer)
        own = net.node_mean_demand
        tree = replenishment_tree(net)
        served = np.zeros(net.num_nodes)
        served[tree.nodes] = tree.mean_demand
        # Demand served through each node (its own plus its primary-lane subtree's); a node
        # outside the tree falls back on every node it reaches by replenishment lanes.
        fallback = downstream_mean_demand(
            net.lane_source, net.lane_destination, net.is_transfer, own
        )
        self.mean_demand = np.where(served > 0, served, fallback)
        ends = np.concatenate([net.lane_source[self.lanes], net.lane_destination[self.lanes]])
        if len(self.lanes) and np.any(self.mean_demand[ends] <= 0):
            bad = sorted({net.node_names[n] for n in ends if self.mean_demand[n] <= 0})
            raise ValueError(f"transfers: nodes {bad} on transfer lanes serve no demand")
        self._src = net.lane_source[self.lanes]
        self._dst = net.lane_destination[self.lanes]

    def _column(self, value: np.ndarray) -> np.ndarray:
        return value[:, None] if value.ndim == 1 else value

    def act(self, state: State) -> np.ndarray:
        net = self.net
        out = np.zeros((state.num_envs, net.num_lanes))
        if not len(self.lanes):
            return out
        mu = np.maximum(self.mean_demand, 1e-12)
        position = state.inventory_position(net)
        low, high = self._column(self.low_days), self._column(self.high_days)
        need = np.floor(np.maximum(low * mu - position, 0.0))  # [B, N]
        surplus = np.floor(np.clip(position - high * mu, 0.0, state.on_hand))
        give = surplus[:, self._src]  # [B, T]
        ask = need[:, self._dst] * (give > 0)
        # A receiver's need split over its donors in proportion to their surplus.
        dst_onehot = net.destination_incidence[self.lanes]  # [T, N]
        offered = (give * (ask > 0)) @ dst_onehot  # [B, N]
        share = np.divide(give, offered[:, self._dst], out=np.zeros_like(give), where=ask > 0)
        amount = np.minimum(np.floor(ask * share), give)
        # A donor never gives more than its surplus over all its lanes.
        src_onehot = net.source_incidence[self.lanes]
        asked_of = amount @ src_onehot
        scale = np.divide(surplus, asked_of, out=np.ones_like(surplus), where=asked_of > surplus)
        out[:, self.lanes] = np.floor(amount * scale[:, self._src])
        return out

    def describe(self) -> dict:
        return {
            "rule": "rebalance",
            "low_days": self.low_days.tolist(),
            "high_days": self.high_days.tolist(),
        }


class WithTransfers(Policy):
    """A replenishment policy plus a transfer rule: the lane quantities of both, added.

    Args:
        replenishment: any policy ordering on replenishment lanes.
        rule: a transfer rule (``NoTransfers``, ``Rebalance``, ...).
    """

    def __init__(self, replenishment: Policy, rule: Policy):
        self.replenishment = replenishment
        self.rule = rule

    def reset(self, net: Network, num_envs: int, noise: PeriodNoise | None) -> None:
        for part in (self.replenishment, self.rule):
            part.reset(net, num_envs, noise)

    def act(self, state: State) -> np.ndarray:
        return self.replenishment.act(state) + self.rule.act(state)

    def describe(self) -> dict:
        return {**self.replenishment.describe(), "transfers": self.rule.describe()}
