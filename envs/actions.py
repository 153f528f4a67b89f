"""Action parametrisations: how a policy's action becomes order/transfer quantities per lane.

- ``quantity``: Box [-1, 1]^E, scaled per lane to [0, max_order] and rounded to whole units
  (the symmetric range SB3 prefers; values outside [-1, 1] are clipped first). On transfer
  lanes only the positive half counts: a <= 0 moves nothing, a in (0, 1] moves
  a * max_order, so a policy starting near 0 does not move stock sideways by default.
- ``discrete``: MultiDiscrete, action e is the quantity on lane e in 0..max_order[e].
- ``order_up_to``: Box [-1, 1]^E; on replenishment lanes the action is a target inventory
  position of the destination, scaled to [0, max_target], and the order is
  max(0, target - position); on transfer lanes it is a quantity as in ``quantity``.
  When a node has several replenishment lanes, they order in lane order, each seeing the
  position raised by the orders of the lanes before it (so two lanes never both fill
  the same gap).
- ``raw``: the action is already quantities per lane (used by baselines); Box [0, max_order].

In every mode an action must have shape [num_envs, E] and be finite (``ActionMap.check``);
raw and discrete quantities above 2**24 are cut to 2**24 before the lane capacity clips them.

The inventory position of a node is on-hand + in transit to it − its backlog.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from envs.network import Network, downstream_mean_demand, upstream_first
from envs.transition import State, check_action

ACTION_MODES = ("quantity", "discrete", "order_up_to", "raw")
MAX_UNITS = float(2**24)
"""Largest quantity per lane per period: whole units are exact in float32 up to 2**24."""


def max_target(net: Network) -> np.ndarray:
    """Upper end of the order-up-to range per lane: the destination's mean demand over
    (lead time + 1) periods plus six standard deviations (Poisson-like), at least 1."""
    through = downstream_mean_demand(
        net.lane_source, net.lane_destination, net.is_transfer, net.node_mean_demand
    )
    # An upstream node's echelon covers the lead times below it too: add the longest
    # downstream replenishment lead time (a generous bound, not an optimum).
    horizon = np.array([lt.max + 1 for lt in net.lead_times], dtype=float)
    downstream = np.zeros(net.num_nodes)
    order = upstream_first(net.lane_source, net.lane_destination, net.is_transfer, net.num_nodes)
    for s in reversed(order):  # destinations before their sources
        for j in net.lanes_out.lanes[net.lanes_out.ptr[s] : net.lanes_out.ptr[s + 1]]:
            if not net.is_transfer[j]:
                d = net.lane_destination[j]
                downstream[s] = max(downstream[s], downstream[d] + horizon[j])
    cover = horizon + downstream[net.lane_destination]
    mu = through[net.lane_destination] * cover
    return np.maximum(np.ceil(mu + 6 * np.sqrt(mu) + 1), 1.0)


class ActionMap:
    """Turns a batch of actions [B, E] into quantities per lane, given the state."""

    def __init__(self, net: Network, mode: str = "order_up_to"):
        if mode not in ACTION_MODES:
            raise ValueError(f"action_mode: unknown {mode!r}; choose one of {ACTION_MODES}")
        self.net = net
        self.mode = mode
        self.max_order = net.max_order
        self.max_target = max_target(net)
        self.scale = np.where(
            (mode == "order_up_to") & ~net.is_transfer, self.max_target, self.max_order
        )
        replenish = np.flatnonzero(~net.is_transfer)
        # Lanes into the same node order one after another: rank = place among them.
        ranks = np.zeros(net.num_lanes, dtype=int)
        for node in np.unique(net.lane_destination[replenish]):
            lanes = replenish[net.lane_destination[replenish] == node]
            ranks[lanes] = np.arange(len(lanes))
        self._replenish_by_rank = (
            [replenish[ranks[replenish] == r] for r in range(int(ranks[replenish].max()) + 1)]
            if len(replenish)
            else []
        )

    @property
    def replenish_by_rank(self) -> list[np.ndarray]:
        """Replenishment lanes grouped by rank: group r holds each node's r-th lane in."""
        return self._replenish_by_rank

    @property
    def space(self) -> gym.Space:
        e = self.net.num_lanes
        if self.mode == "discrete":
            return gym.spaces.MultiDiscrete(self.max_order.astype(np.int64) + 1)
        if self.mode == "raw":
            return gym.spaces.Box(0.0, self.max_order.astype(np.float32), (e,), np.float32)
        return gym.spaces.Box(-1.0, 1.0, (e,), np.float32)

    def check(self, action: np.ndarray, num_envs: int) -> np.ndarray:
        """The action as floats [B, E]; raises ``ValueError`` for a wrong shape (batch size
        included) or a NaN/inf, the same way in every mode. Quantity modes (``raw``,
        ``discrete``) are cut to ``MAX_UNITS``: a huge finite quantity would overflow a
        float32 state to inf, so it becomes the largest whole number float32 holds exactly,
        which the transition then clips to the lane's capacity like any other
        over-capacity quantity (counted in ``clipped``). Both backends call this, before
        the period's noise is drawn."""
        action = check_action(self.net, action, np.float64, num_envs)
        if self.mode in ("raw", "discrete"):
            return np.minimum(action, MAX_UNITS)
        return action

    def to_quantities(self, action: np.ndarray, state: State) -> np.ndarray:
        """Quantities per lane [B, E] for a batch of actions in this mode.

        Everything that can reject an action happens here, before the simulator draws the
        period's noise, so a rejected action leaves the noise streams untouched.
        """
        action = self.check(action, state.num_envs)
        if self.mode in ("raw", "discrete"):
            return action
        scaled = self.scaled(action)
        if self.mode == "quantity":
            return scaled
        return self.order_up_to(scaled, state)

    def scaled(self, action: np.ndarray) -> np.ndarray:
        """A checked Box action [B, E] in whole units per lane: the order-up-to target on
        replenishment lanes (``order_up_to``) or the quantity (``quantity`` and transfers)."""
        clipped = np.clip(action, -1.0, 1.0)
        # Replenishment lanes map [-1, 1] onto [0, scale]; transfer lanes map only the
        # positive half, so an untrained policy (actions near 0) does not churn stock sideways.
        unit = np.where(self.net.is_transfer, np.maximum(clipped, 0.0), (clipped + 1.0) * 0.5)
        return np.rint(unit * self.scale)

    def order_up_to(self, target: np.ndarray, state: State) -> np.ndarray:
        """Orders max(0, target − position) on replenishment lanes; quantities elsewhere."""
        net = self.net
        quantity = target.copy()
        position = state.inventory_position(net)
        for lanes in self._replenish_by_rank:
            dest = net.lane_destination[lanes]
            order = np.maximum(target[:, lanes] - position[:, dest], 0.0)
            quantity[:, lanes] = order
            position[:, dest] += order  # lanes of one rank go to distinct nodes
        return quantity
