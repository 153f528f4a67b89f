"""The observation vector: what it holds, in what order, under which names.

Entries, in order (quantities divided by ``scale``, the mean demand per period of an
average demand node):

- ``on_hand[<node>]`` for each stocking node;
- ``backlog[<node>]`` for each backlogging demand node;
- ``pipeline[<lane>][+k]`` for each lane and k = 1..(its longest lead time − 1): units
  that arrive k periods from now (a shipment with lead time L lands at the start of t+L);
- ``demand[<node>]`` last period's demand at each demand node;
- ``season_sin``, ``season_cos`` when demand is seasonal: the phase of the season cycle;
- ``up[<node>]`` / ``up[<lane>]`` (0 or 1) for each node or lane that can be disrupted.

``ObservationLayout.names`` lists them; ``layout.index("on_hand[store]")`` finds one.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from envs.network import Network
from envs.transition import State


class ObservationLayout:
    """Builds observations [B, F] (float32) from states, for one network."""

    def __init__(self, net: Network):
        self.net = net
        self.scale = float(max(np.mean(net.demand.mean_demand), 1e-6))
        names: list[str] = []
        self.stock_nodes = net.stock_nodes
        names += [f"on_hand[{net.node_names[i]}]" for i in self.stock_nodes]
        # Zones' backlog is owed by their first stock source: observe each node once.
        self.backlog_nodes = np.array(list(dict.fromkeys(net.demand_nodes[net.is_backlog])))
        self.backlog_nodes = self.backlog_nodes.astype(np.int64)
        names += [f"backlog[{net.node_names[i]}]" for i in self.backlog_nodes]
        pipe_flat = []  # index of (lane e, slot k - 1) in a flattened pipeline row
        for e, lt in enumerate(net.lead_times):
            for k in range(1, lt.max):  # at a decision, at most L - 1 periods from arriving
                pipe_flat.append(e * net.pipeline_length + k - 1)
                names.append(f"pipeline[{net.lane_names[e]}][+{k}]")
        self.pipe_flat = np.array(pipe_flat, dtype=int)
        names += [f"demand[{name}]" for name in net.demand_names]
        self.season = net.demand.season_period if net.demand.trace is None else 1
        if self.season > 1:
            names += ["season_sin", "season_cos"]
        # sin and cos of each phase of the season cycle, computed once [season, 2].
        angle = (2 * np.pi / self.season) * np.arange(self.season)
        self.season_table = np.stack([np.sin(angle), np.cos(angle)], axis=1).astype(np.float32)
        self.flag_nodes = np.flatnonzero(net.node_failure > 0)
        self.flag_lanes = np.flatnonzero(net.lane_failure > 0)
        names += [f"up[{net.node_names[i]}]" for i in self.flag_nodes]
        names += [f"up[{net.lane_names[e]}]" for e in self.flag_lanes]
        self.names = names
        low = np.zeros(len(names), dtype=np.float32)
        if self.season > 1:
            low[names.index("season_sin")] = low[names.index("season_cos")] = -1.0
        self.space = gym.spaces.Box(low, np.inf, (len(names),), np.float32)

    def index(self, name: str) -> int:
        return self.names.index(name)

    def build(self, state: State) -> np.ndarray:
        b = state.num_envs
        # np.take returns C-ordered blocks (x[:, idx] may not), which concatenate fast.
        parts = [
            np.take(state.on_hand, self.stock_nodes, axis=1),
            np.take(state.backlog, self.backlog_nodes, axis=1),
            np.take(state.pipeline.reshape(b, -1), self.pipe_flat, axis=1),
            state.last_demand,
        ]
        out = (np.concatenate(parts, axis=1) * (1.0 / self.scale)).astype(np.float32)
        extra = []
        if self.season > 1:
            extra.append(self.season_table[state.period % self.season])
        if len(self.flag_nodes) or len(self.flag_lanes):
            extra += [state.node_up[:, self.flag_nodes], state.lane_up[:, self.flag_lanes]]
        if extra:
            out = np.concatenate([out, *extra], axis=1, dtype=np.float32)
        return out
