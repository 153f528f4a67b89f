"""Classical replenishment policies, batched: one call orders for B envs at once.

Every policy here is a ``baselines.policy_base.Policy``: ``act(state) -> quantities
[B, E]`` with array code over the batch, no loop over envs. The network structure they
share is in ``baselines.structure``, the protection-period demand in
``baselines.protection``, their computed parameters in ``baselines.parameters``.

Which lane a node orders on. A *stocking node* that has at least one replenishment lane
into it is an *ordering node*; it places its whole order on its **primary lane**, the first
replenishment lane into it listed in the network config (list a node's preferred source
first). Other replenishment lanes into the node are left idle by these policies; transfer
lanes are driven by a transfer rule (``baselines.transfers``). Every parameter is a vector
with one entry per ordering node, in the network's node order (``ReplenishmentTree.names``);
a scalar is broadcast. The primary lanes form a tree: each ordering node *serves* the demand
nodes below it along primary lanes, and the heuristics size its stock on that demand.

Inventory positions (Zipkin 2000, Section 9.4; Axsäter 2015, Section 5.3):

- installation inventory position of a node = on-hand + in transit to it − its backlog;
- echelon inventory position of stage j of a serial system = on-hand + in transit of
  stages 1..j − the backlog at stage 1.

Parameters may also be given as a batch ``[B, S]`` (one vector per env): the tuner
(``baselines.tuning``) evaluates many candidates in one simulation that way.

Policies: ``BaseStock``, ``EchelonBaseStock``, ``CappedBaseStock``, ``SS`` ((s, S)),
``RQ`` ((R, Q)), ``ConstantOrder``, ``Myopic``, and ``optimal_policy`` (value iteration,
single node). Their parameters come from ``baselines.tuning`` (exact where theory applies,
simulation-optimised otherwise) through ``baselines.registry.make_policy``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from baselines.parameters import (
    Computed,
    _base_stock_computed,
    _capped_computed,
    _constant_computed,
    _echelon_computed,
    _r_Q_computed,
    _s_S_computed,
)
from baselines.policy_base import Policy
from baselines.protection import critical_ratio, protection_pmf
from baselines.structure import (
    as_list,
    parameter_vector,
    replenishment_tree,
    serial_stages,
)
from envs.network import Network
from envs.transition import State

__all__ = [
    "BaseStock",
    "CappedBaseStock",
    "ConstantOrder",
    "EchelonBaseStock",
    "Myopic",
    "NodePolicy",
    "RQ",
    "SS",
]


class NodePolicy(Policy):
    """Base of the node policies: an order per ordering node on its primary lane.

    Subclasses name their parameter vectors in ``PARAMS`` (name -> lower bound) and
    implement ``order(state) -> [B, S]``.
    """

    PARAMS: ClassVar[dict[str, float]] = {}

    def __init__(self, net: Network):
        self.net = net
        self.tree = replenishment_tree(net)

    def _vector(self, name: str, value: Any) -> np.ndarray:
        return parameter_vector(name, value, self.tree, minimum=self.PARAMS[name])

    def position(self, state: State) -> np.ndarray:
        """Installation inventory position of each ordering node [B, S]."""
        return state.inventory_position(self.net)[:, self.tree.nodes]

    def order(self, state: State) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def act(self, state: State) -> np.ndarray:
        """Order quantity per lane [B, E]: each node's order on its primary lane."""
        out = np.zeros((state.num_envs, self.net.num_lanes))
        out[:, self.tree.lanes] = self.order(state)
        return out

    def describe(self) -> dict:
        """The policy's parameters as a plain, JSON-ready dict."""
        out: dict[str, Any] = {"nodes": list(self.tree.names)}
        for name in self.PARAMS:
            out[name] = as_list(getattr(self, name))
        return out

    @staticmethod
    def computed(net: Network) -> Computed:
        """Parameters computed without simulation: exact where theory applies, else a
        start for the simulation search (``baselines.tuning``)."""
        return Computed({}, "nothing to compute", exact=True)

    @classmethod
    def feasible(cls, params: dict[str, np.ndarray]) -> np.ndarray:
        """Which candidate parameter rows [C, S] satisfy the policy's constraints [C]."""
        first = next(iter(params.values()))
        return np.ones(first.shape[0], dtype=bool)


# --------------------------------------------------------------------------------------------
# the policies
# --------------------------------------------------------------------------------------------


class BaseStock(NodePolicy):
    """Installation base-stock (order-up-to) policy: every period each ordering node orders
    up to its base-stock level S on its installation inventory position,
    ``max(S − IP, 0)`` (Zipkin 2000, Section 6.2; stockpyl's ``BaseStockPolicy``).

    Args:
        net: the network.
        levels: base-stock level per ordering node (>= 0).
    """

    PARAMS = {"levels": 0.0}

    @staticmethod
    def computed(net: Network) -> Computed:
        """Parameters without simulation (see ``computed_parameters``)."""
        return _base_stock_computed(net)

    def __init__(self, net: Network, levels: Any = None):
        super().__init__(net)
        self.levels = self._vector("levels", levels)

    def order(self, state: State) -> np.ndarray:
        return np.maximum(self.levels - self.position(state), 0.0)


class CappedBaseStock(NodePolicy):
    """Capped base-stock: order up to S but never more than a cap per period,
    ``min(max(S − IP, 0), cap)`` (Johansen & Thorstenson 2008; Xin 2021, "Understanding
    the performance of capped base-stock policies in lost-sales inventory models", OR).

    Args:
        net: the network.
        levels: base-stock level per ordering node (>= 0).
        caps: most units ordered per period per ordering node (>= 0).
    """

    PARAMS = {"levels": 0.0, "caps": 0.0}

    @staticmethod
    def computed(net: Network) -> Computed:
        """Parameters without simulation (see ``computed_parameters``)."""
        return _capped_computed(net)

    def __init__(self, net: Network, levels: Any = None, caps: Any = None):
        super().__init__(net)
        self.levels = self._vector("levels", levels)
        self.caps = self._vector("caps", caps)

    def order(self, state: State) -> np.ndarray:
        return np.minimum(np.maximum(self.levels - self.position(state), 0.0), self.caps)


class SS(NodePolicy):
    """(s, S) policy: when the inventory position is at or below the reorder point s, order
    up to S; otherwise order nothing (Scarf 1960; Zheng & Federgruen 1991).

    Args:
        net: the network.
        reorder_points: s per ordering node (>= 0).
        order_up_to_levels: S per ordering node (>= s).
    """

    PARAMS = {"reorder_points": 0.0, "order_up_to_levels": 0.0}

    @staticmethod
    def computed(net: Network) -> Computed:
        """Parameters without simulation (see ``computed_parameters``)."""
        return _s_S_computed(net)

    def __init__(self, net: Network, reorder_points: Any = None, order_up_to_levels: Any = None):
        super().__init__(net)
        self.reorder_points = self._vector("reorder_points", reorder_points)
        self.order_up_to_levels = self._vector("order_up_to_levels", order_up_to_levels)
        if not np.all(self.feasible(self._rows())):
            raise ValueError(
                "reorder_points: s must be <= S (order_up_to_levels), got s="
                f"{as_list(self.reorder_points)} and S={as_list(self.order_up_to_levels)}"
            )

    def _rows(self) -> dict[str, np.ndarray]:
        return {name: np.atleast_2d(getattr(self, name)) for name in self.PARAMS}

    @classmethod
    def feasible(cls, params: dict[str, np.ndarray]) -> np.ndarray:
        return np.all(params["reorder_points"] <= params["order_up_to_levels"], axis=-1)

    def order(self, state: State) -> np.ndarray:
        inventory_position = self.position(state)
        return np.where(
            inventory_position <= self.reorder_points,
            self.order_up_to_levels - inventory_position,
            0.0,
        )


class RQ(NodePolicy):
    """(R, Q) policy with orders in multiples of Q: when the inventory position is below R,
    order ``Q * ceil((R − IP) / Q)``, the smallest multiple of Q that brings it back to at
    least R, so the position after ordering lies in [R, R + Q) (Hadley & Whitin 1963;
    Axsäter 2015, Section 4.2, whose reorder point at-or-below R' is this rule with
    R = R' + 1). With Q = 1 it is base-stock with level R; with one order per trigger it is
    also called (s, Q).

    Args:
        net: the network.
        reorder_points: R per ordering node (>= 0).
        quantities: batch size Q per ordering node (>= 1).
    """

    PARAMS = {"reorder_points": 0.0, "quantities": 1.0}

    @staticmethod
    def computed(net: Network) -> Computed:
        """Parameters without simulation (see ``computed_parameters``)."""
        return _r_Q_computed(net)

    def __init__(self, net: Network, reorder_points: Any = None, quantities: Any = None):
        super().__init__(net)
        self.reorder_points = self._vector("reorder_points", reorder_points)
        self.quantities = self._vector("quantities", quantities)

    def order(self, state: State) -> np.ndarray:
        shortfall = np.maximum(self.reorder_points - self.position(state), 0.0)
        return self.quantities * np.ceil(shortfall / self.quantities)


class ConstantOrder(NodePolicy):
    """Constant-order policy: the same quantity every period, whatever the state (Reiman
    2004; Xin & Goldberg 2016 show it is asymptotically optimal for lost sales as the lead
    time grows).

    Args:
        net: the network.
        quantities: units ordered per period per ordering node (>= 0).
    """

    PARAMS = {"quantities": 0.0}

    @staticmethod
    def computed(net: Network) -> Computed:
        """Parameters without simulation (see ``computed_parameters``)."""
        return _constant_computed(net)

    def __init__(self, net: Network, quantities: Any = None):
        super().__init__(net)
        self.quantities = self._vector("quantities", quantities)

    def order(self, state: State) -> np.ndarray:
        return np.broadcast_to(self.quantities, (state.num_envs, self.tree.size)).copy()


class EchelonBaseStock(NodePolicy):
    """Echelon base-stock policy of a serial system (Clark & Scarf 1960): stage j orders up
    to its echelon level on its echelon inventory position, ``max(S_j − echelon IP_j, 0)``,
    echelon IP_j = on-hand + in transit of stages 1..j − backlog at stage 1. Optimal for
    serial systems with backlog; the levels come from Chen & Zheng (1994)
    (``baselines.analytic.serial_echelon_base_stock``). A shortfall upstream is simply asked
    for again next period (the echelon position stays low), which plays the role of the
    textbook's internal backorders.

    Args:
        net: a serial network (else ValueError).
        levels: echelon base-stock level per ordering node (network node order, >= 0).
    """

    PARAMS = {"levels": 0.0}

    @staticmethod
    def computed(net: Network) -> Computed:
        """Parameters without simulation (see ``computed_parameters``)."""
        return _echelon_computed(net)

    def __init__(self, net: Network, levels: Any = None):
        super().__init__(net)
        stages = serial_stages(net)
        self.levels = self._vector("levels", levels)
        # echelon[n, s] = 1 when node n belongs to the echelon of ordering node s.
        stage_of = {int(n): j for j, n in enumerate(stages)}
        self.echelon = np.zeros((net.num_nodes, self.tree.size))
        for s, node in enumerate(self.tree.nodes):
            self.echelon[stages[: stage_of[int(node)] + 1], s] = 1.0
        self.stage_one = int(stages[0])

    def position(self, state: State) -> np.ndarray:
        """Echelon inventory position of each ordering node [B, S]."""
        stock = state.on_hand + state.in_transit() @ self.net.destination_incidence
        return stock @ self.echelon - state.backlog[:, [self.stage_one]]

    def order(self, state: State) -> np.ndarray:
        return np.maximum(self.levels - self.position(state), 0.0)


class Myopic(NodePolicy):
    """Myopic (one-period newsvendor) policy: each period, order up to the critical fractile
    p / (p + h) of the demand over the protection period — the lead time L + 1 periods
    starting now, with this period's seasonal demand pmfs — on the pipeline-adjusted
    (installation) inventory position. Optimal for backlog with stationary demand (Veinott
    1965); under seasonality it tracks the season. The levels are computed from the demand
    pmfs, a table over the season cycle; there is nothing to tune.
    """

    def __init__(self, net: Network):
        super().__init__(net)
        tree = self.tree
        ratio = critical_ratio(net, tree)
        cycle = net.demand.season_period if net.demand.trace is None else 1
        self.levels = np.zeros((cycle, tree.size))
        for s, lane in enumerate(tree.lanes):
            lt = net.lead_times[lane]
            for phase in range(cycle):
                pmf = protection_pmf(net, tree, s, phase, lt.support, lt.probs)
                self.levels[phase, s] = np.searchsorted(np.cumsum(pmf), ratio[s] - 1e-12)

    def order(self, state: State) -> np.ndarray:
        levels = self.levels[state.period % len(self.levels)]
        return np.maximum(levels - self.position(state), 0.0)

    def describe(self) -> dict:
        out = {"nodes": list(self.tree.names)}
        out["levels"] = (
            as_list(self.levels[0])
            if len(self.levels) == 1
            else {
                "min": as_list(self.levels.min(0)),
                "max": as_list(self.levels.max(0)),
            }
        )
        return out
