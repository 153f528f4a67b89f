"""A hindsight oracle: a reference for reports, never a competitor.

``HindsightOracle`` reads the future. The rollout resets it with the run's noise
(``reset(net, num_envs, noise)``), and at period t it reads ahead from that noise
(``noise.ahead``: the same draws the simulation plays later), so it knows every future
demand and the lead time that this period's order will get. It is a hindsight echelon
base-stock policy: each ordering node orders, on its primary lane, exactly what brings its
echelon inventory position (the installation positions of itself and every node below it
along primary lanes) up to the customer demand that will occur before this order can reach
the customers:

    order = max( sum_d D_d[t, t + L + delay_d] − echelon position, 0 ),

with L this order's (known) lead time and delay_d the rounded mean lead times of the primary
lanes from the node down to demand node d. In steady state every node orders d(t + L +
delay): single node with a fixed lead time, after a short transient, no unit is ever held or
short — zero holding and shortage cost, far below any non-anticipating policy. Its cost is a
lower-bound-ish reference (an information bound, not attainable). In networks with random
downstream lead times, rationing or capacities it is a heuristic with perfect demand
information and need not be a true bound. It only works in ``baselines.rollout.rollout``
(``baselines.evaluation.evaluate``), with every env in step.
"""

from __future__ import annotations

import numpy as np

from baselines.policy_base import Policy
from baselines.rollout import PeriodNoise
from baselines.structure import replenishment_tree
from envs.network import Network
from envs.transition import State

__all__ = ["HindsightOracle"]


class HindsightOracle(Policy):
    """Orders exactly the future demand each order must cover (see module docstring).

    Args:
        net: the network.
    """

    def __init__(self, net: Network):
        self.net = net
        self.tree = tree = replenishment_tree(net)
        self._pairs = np.argwhere(tree.served > 0)  # (ordering node s, demand node d)
        self._delays = tree.delay[self._pairs[:, 0], self._pairs[:, 1]]
        # subtree[n, s] = 1 when node n is s or lies below s along primary lanes.
        parent = {int(n): int(net.lane_source[e]) for n, e in zip(tree.nodes, tree.lanes)}
        self._subtree = np.zeros((net.num_nodes, tree.size))
        column = {int(n): s for s, n in enumerate(tree.nodes)}
        for n in tree.nodes:
            node = int(n)
            while node in column:
                self._subtree[int(n), column[node]] = 1.0
                node = parent[node]
        self._max_lead = max(net.lead_times[e].max for e in tree.lanes)
        self.horizon = self._max_lead + int(self._delays.max(initial=0)) + 1
        self._noise: PeriodNoise | None = None
        self._num_envs = 0

    def reset(self, net: Network, num_envs: int, noise: PeriodNoise | None) -> None:
        """Keep the run's noise, to read ahead in it."""
        if net is not self.net and net.node_names != self.net.node_names:
            raise ValueError("oracle: reset with a different network than it was built for")
        self._noise, self._num_envs = noise, num_envs

    def act(self, state: State) -> np.ndarray:
        if self._noise is None:
            raise ValueError("oracle: needs the run's noise to read ahead (rollout resets it)")
        if state.num_envs != self._num_envs or np.any(state.period != state.period[0]):
            raise ValueError("oracle: needs the envs it was reset for, all in the same period")
        net, tree = self.net, self.tree
        future = self._noise.ahead(int(state.period[0]), self.horizon)
        cumulative = np.cumsum(np.stack([n.demand for n in future], axis=1), axis=1)  # [B, H, D]
        lead = future[0].lead_time[:, tree.lanes].astype(np.int64)  # this order's lead time [B, S]
        target = np.zeros((state.num_envs, tree.size))
        for (s, d), delay in zip(self._pairs, self._delays):
            target[:, s] += np.take_along_axis(cumulative[:, :, d], lead[:, [s]] + delay, 1)[:, 0]
        echelon_position = state.inventory_position(net) @ self._subtree
        out = np.zeros((state.num_envs, net.num_lanes))
        out[:, tree.lanes] = np.maximum(target - echelon_position, 0.0)
        return out

    def describe(self) -> dict:
        return {"nodes": list(self.tree.names), "reference": "hindsight (reads future noise)"}
