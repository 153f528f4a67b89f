"""Shared helpers for the simulator tests: tiny network configs, hand-made states and noise."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import settings

import experiments.params  # noqa: F401  (registers the entry points' schemas in Hydra's ConfigStore)
from envs.network import Network
from envs.noise import Noise
from envs.transition import State, initial_state

# Property tests draw the same examples on every run (`make test` is reproducible and a CI
# run cannot fail by chance); `pytest --hypothesis-profile=explore` searches afresh.
settings.register_profile("default", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False, max_examples=500)
settings.load_profile("default")

POISSON_5 = {"dist": "poisson", "mean": 5}


def supplier(name: str = "supplier", **kw: Any) -> dict:
    return {"name": name, "kind": "supplier", **kw}


def store(
    name: str, *, demand: dict | None = POISSON_5, unmet: str = "lost", penalty: float = 9, **kw
) -> dict:
    """A stocking node; pass ``demand=None`` for one without customers."""
    node = {"name": name, **kw}
    if demand is not None:
        node.update(demand=demand, unmet=unmet, penalty=penalty)
    return node


def lane(source: str, destination: str, **kw: Any) -> dict:
    return {"source": source, "destination": destination, **kw}


def single_node_config(**store_kw: Any) -> dict:
    """supplier -> store with lead time ``lead_time`` (default 2); other kwargs go to store."""
    lead_time = store_kw.pop("lead_time", 2)
    lane_kw = store_kw.pop("lane", {})
    return {
        "nodes": [supplier(), store("store", **store_kw)],
        "lanes": [lane("supplier", "store", lead_time=lead_time, **lane_kw)],
    }


def noise(demand, lead_time, node_disruption=None, lane_disruption=None) -> Noise:
    """A one-env Noise from plain lists (demand per demand node, lead time per lane)."""

    def row(x):
        return None if x is None else np.asarray([x], dtype=float)

    return Noise(
        demand=row(demand),
        lead_time=np.asarray([lead_time], dtype=np.int64),
        node_disruption=row(node_disruption),
        lane_disruption=row(lane_disruption),
    )


def state_with(net: Network, num_envs: int = 1, **arrays: Any) -> State:
    """``initial_state`` with some fields replaced (broadcast to the batch)."""
    s = initial_state(net, num_envs)
    for name, value in arrays.items():
        current = getattr(s, name)
        setattr(s, name, np.broadcast_to(np.asarray(value, current.dtype), current.shape).copy())
    return s


def q(*quantities: float) -> np.ndarray:
    """A one-env action [1, E]."""
    return np.asarray([quantities], dtype=float)
