"""The network structure every node policy shares: which lane each stocking node orders
on (its primary lane), the tree those lanes form, and parameter vectors over it.

A *stocking node* with at least one replenishment lane into it is an *ordering node*; it
places its whole order on its **primary lane**, the first replenishment lane into it
listed in the network config. The primary lanes form a tree: each ordering node *serves*
the demand nodes below it along primary lanes. Parameters are vectors with one entry per
ordering node, in the network's node order (``ReplenishmentTree.names``), or a batch
``[B, S]`` (one vector per env, as the tuner evaluates candidates).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from envs.network import Network


@dataclass(frozen=True)
class ReplenishmentTree:
    """Ordering nodes, their primary lanes and the demand each one serves.

    Attributes:
        nodes: node index of each ordering node [S] (network node order).
        names: their names.
        lanes: primary (first listed) replenishment lane of each ordering node [S].
        served: ``served[s, d]`` is 1 when demand node d lies below node s along primary
            lanes (itself included) [S, D].
        delay: periods from node s's stock to demand node d's shelf along primary lanes
            (sum of the rounded mean lead times of the lanes below s) [S, D], -1 if not served.
        mean_demand: mean demand per period served through each ordering node [S].
        penalty: demand-weighted penalty of the demand nodes each node serves [S].
    """

    nodes: np.ndarray
    names: tuple[str, ...]
    lanes: np.ndarray
    served: np.ndarray
    delay: np.ndarray
    mean_demand: np.ndarray
    penalty: np.ndarray

    @property
    def size(self) -> int:
        return len(self.nodes)


def replenishment_tree(net: Network) -> ReplenishmentTree:
    """The ``ReplenishmentTree`` of a network, computed once per network
    (``Network.derived``)."""
    return net.derived("replenishment_tree", lambda: _build_tree(net))


def _build_tree(net: Network) -> ReplenishmentTree:
    nodes, lanes = [], []
    for n in net.stock_nodes:
        inbound = np.flatnonzero((net.lane_destination == n) & ~net.is_transfer)
        if len(inbound):
            nodes.append(int(n))
            lanes.append(int(inbound[0]))
    if not nodes:
        raise ValueError("network: no stocking node has a replenishment lane to order on")
    index = {n: s for s, n in enumerate(nodes)}
    primary = dict(zip(nodes, lanes))
    served = np.zeros((len(nodes), net.num_demand_nodes))
    delay = np.full((len(nodes), net.num_demand_nodes), -1, dtype=np.int64)
    for d, node in enumerate(net.demand_nodes):
        node, lag = int(node), 0
        while node in primary:
            served[index[node], d] = 1
            delay[index[node], d] = lag
            lane = primary[node]
            lag += int(round(net.lead_times[lane].mean))
            node = int(net.lane_source[lane])
    mean = net.demand.mean_demand
    through = served @ mean
    weighted = np.divide(
        served @ (mean * net.penalty), through, out=np.zeros_like(through), where=through > 0
    )
    return ReplenishmentTree(
        nodes=np.array(nodes),
        names=tuple(net.node_names[n] for n in nodes),
        lanes=np.array(lanes),
        served=served,
        delay=delay,
        mean_demand=through,
        penalty=np.where(through > 0, weighted, 0.0),
    )


def parameter_vector(
    name: str, value: Any, tree: ReplenishmentTree, *, minimum: float = 0.0
) -> np.ndarray:
    """Validate a per-ordering-node parameter: a scalar, a vector [S] or a batch [B, S].

    Raises ValueError naming the parameter and the value (wrong length, NaN, below
    ``minimum``).
    """
    if value is None:
        raise ValueError(
            f"{name}: required (one value per ordering node {list(tree.names)}); "
            "baselines.registry.make_policy computes it when left null"
        )
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected numbers, got {value!r}") from None
    if arr.ndim > 2 or (arr.ndim >= 1 and arr.shape[-1] not in (1, tree.size)):
        raise ValueError(
            f"{name}: expected a scalar or one value per ordering node ({tree.size}: "
            f"{list(tree.names)}), got {np.asarray(value).tolist()!r}"
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: must be finite, got {np.asarray(value).tolist()!r}")
    if np.any(arr < minimum):
        raise ValueError(f"{name}: must be >= {minimum:g}, got {np.asarray(value).tolist()!r}")
    return arr if arr.ndim == 2 else np.broadcast_to(arr, (tree.size,)).copy()


def as_list(values: np.ndarray) -> list:
    """JSON-ready list, whole numbers as ints."""
    arr = np.asarray(values)
    if arr.size and np.all(arr == np.round(arr)):
        return np.round(arr).astype(int).tolist()
    return arr.tolist()


def serial_stages(net: Network) -> np.ndarray:
    """Stocking nodes of a serial network from the customer-facing stage 1 upstream.

    A serial network: one supplier, a chain of stocking nodes each fed by exactly one
    replenishment lane from the next one upstream, demand only at the last one, no
    transfer lanes. Raises ValueError ("echelon base-stock needs a serial network, got
    ...") otherwise.
    """

    def fail(why: str) -> ValueError:
        return ValueError(f"echelon base-stock needs a serial network, got {why}")

    if net.is_transfer.any():
        raise fail(f"{int(net.is_transfer.sum())} transfer lanes")
    if net.num_demand_nodes != 1:
        names = [net.node_names[n] for n in net.demand_nodes]
        raise fail(f"{net.num_demand_nodes} demand nodes {names}")
    for n in net.stock_nodes:
        inbound = int(np.sum(net.lane_destination == n))
        outbound = int(np.sum(net.lane_source == n))
        if inbound != 1 or outbound > 1:
            raise fail(
                f"node {net.node_names[n]!r} with {inbound} inbound and {outbound} outbound lanes"
            )
    stages = [int(net.demand_nodes[0])]
    if np.any(net.lane_source == stages[0]):
        raise fail(f"demand node {net.node_names[stages[0]]!r} ships downstream")
    while True:
        source = int(net.lane_source[np.flatnonzero(net.lane_destination == stages[-1])[0]])
        if net.is_supplier[source]:
            break
        stages.append(source)
    if len(stages) != len(net.stock_nodes):
        raise fail(f"stocking nodes off the chain to {net.node_names[stages[0]]!r}")
    return np.array(stages)
