"""A generated hub-and-spoke distribution network, for any size from 10 to 10,000 nodes.

One external supplier feeds ``regions`` regional DCs; each DC feeds its
``stores_per_region`` stores; stores of a region can transfer stock to their neighbours
in the region (a ring: store k to stores k-1 and k+1), so the lanes grow linearly with
the size (about 3 per store) and the network has N = 1 + regions * (1 + stores_per_region)
nodes. Stores face Poisson demand with lost sales; DC replenishment lead times are random.

    python -m experiments.bench_env env=hub_and_spoke env.regions=100 env.stores_per_region=99
"""

from __future__ import annotations

from typing import Any


def hub_and_spoke_config(
    regions: int,
    stores_per_region: int,
    *,
    demand_mean: float = 5.0,
    holding_cost: float = 1.0,
    penalty: float = 9.0,
    transfer_cost: float = 0.5,
) -> dict[str, Any]:
    """The network config (a ``NetworkConfig`` mapping) of a hub-and-spoke network."""
    for name, value in (("regions", regions), ("stores_per_region", stores_per_region)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"env.{name}: must be a whole number >= 1, got {value!r}")
    nodes: list[dict[str, Any]] = [{"name": "supplier", "kind": "supplier"}]
    lanes: list[dict[str, Any]] = []
    transfers: list[dict[str, Any]] = []
    dc_lead_time = {"support": [2, 3, 4], "probs": [0.25, 0.5, 0.25]}
    for r in range(regions):
        dc = f"dc_{r}"
        nodes.append({"name": dc, "holding_cost": 0.5 * holding_cost, "initial_on_hand": 0})
        lanes.append(
            {
                "source": "supplier",
                "destination": dc,
                "lead_time": dc_lead_time,
                "unit_cost": 1.0,
                "fixed_cost": 10.0,
            }
        )
        stores = [f"store_{r}_{s}" for s in range(stores_per_region)]
        for store in stores:
            nodes.append(
                {
                    "name": store,
                    "holding_cost": holding_cost,
                    "initial_on_hand": int(2 * demand_mean),
                    "demand": {"dist": "poisson", "mean": demand_mean},
                    "unmet": "lost",
                    "penalty": penalty,
                }
            )
            lanes.append({"source": dc, "destination": store, "lead_time": 1, "unit_cost": 0.2})
        # A ring of transfers within the region (one pair when it has two stores).
        pairs = set()
        if stores_per_region >= 2:
            for s in range(stores_per_region):
                nxt = (s + 1) % stores_per_region
                pairs.update({(s, nxt), (nxt, s)})
        for a, b in sorted(pairs):
            transfers.append(
                {
                    "source": stores[a],
                    "destination": stores[b],
                    "lead_time": 1,
                    "unit_cost": transfer_cost,
                }
            )
    return {"nodes": nodes, "lanes": lanes, "transfer_lanes": transfers}
