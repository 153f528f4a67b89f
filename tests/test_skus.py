"""Several SKUs on one network (envs.skus): per-SKU copies, shared storage and lane
capacity, one truck's fixed cost, one facility cost; ABC/XYZ segmentation
(envs.segmentation); per-SKU KPIs; the assortment placements of envs.designs."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from baselines.evaluation import evaluate
from baselines.policies import BaseStock
from envs.designs import design_config
from envs.network import build_network
from envs.noise import Noise, NoiseStream
from envs.schema import ConfigError
from envs.segmentation import abc_xyz
from envs.simulator import Simulator
from envs.transition import initial_state, transition

FLOWS = ("requested", "clipped", "shipped", "received", "overflow", "demand", "sales")
FLOWS += ("filled", "lost", "backlog", "fulfilled", "zone_lead_time")

# One product: a DC with limited storage feeds a store (own demand) over a capacitated
# lane with a fixed cost; a zone is served by the store, then the DC, then drop-ship.
PRODUCT = {
    "nodes": [
        {"name": "s", "kind": "supplier", "disruption": {"outages": [{"start": 5, "end": 8}]}},
        {"name": "dc", "holding_cost": 0.5, "storage_capacity": 40, "overflow_cost": 2,
         "facility_cost": 3, "handling_cost": 0.1},
        {"name": "store", "holding_cost": 1, "demand": {"mean": 3}, "unmet": "lost",
         "penalty": 9, "storage_capacity": 25},
        {"name": "shop", "holding_cost": 1, "demand": {"mean": 2}, "unmet": "backlog",
         "penalty": 4},
    ],
    "lanes": [
        {"source": "s", "destination": "dc", "lead_time": 2, "unit_cost": 1},
        {"source": "dc", "destination": "store", "lead_time": 1, "unit_cost": 0.2,
         "capacity": 12, "fixed_cost": 5},
        {"source": "dc", "destination": "shop", "lead_time": 0, "unit_cost": 0.3},
    ],
    "transfer_lanes": [{"source": "store", "destination": "shop", "lead_time": 1,
                        "unit_cost": 0.4}],
    "zones": [
        {"name": "z", "demand": {"dist": "negative_binomial", "mean": 4, "std": 3},
         "penalty": 7, "fulfilment": [{"source": "store"}, {"source": "dc", "delivery_time": 1,
                                                             "unit_cost": 0.6},
                                      {"source": "s", "delivery_time": 3, "unit_cost": 2}]},
    ],
}  # fmt: skip


def with_skus(*skus: dict, base: dict = PRODUCT) -> dict:
    return {**copy.deepcopy(base), "skus": list(skus)}


def run(cfg: dict, periods: int = 40, num_envs: int = 4) -> list:
    sim = Simulator(cfg, num_envs=num_envs, seed=3, dtype=np.float64, action_mode="quantity")
    rng = np.random.default_rng(1)
    return [sim.step(rng.integers(0, 15, (num_envs, sim.net.num_lanes))) for _ in range(periods)]


def test_one_sku_of_unit_value_and_volume_is_the_single_product_network():
    net = build_network(with_skus({"name": "only"}))
    assert net.node_names == ("s/only", "dc/only", "store/only", "shop/only")
    assert net.lane_names[1] == "dc/only->store/only"
    for a, b in zip(run(PRODUCT), run(with_skus({"name": "only"}))):
        for name in FLOWS:
            assert_array_equal(getattr(a.flows, name), getattr(b.flows, name), err_msg=name)
        assert_array_equal(a.obs, b.obs)
        # The truck's fixed cost is added to the ordering cost after the per-unit costs,
        # so the totals agree to rounding, not always to the bit.
        for name, value in a.costs.as_dict().items():
            assert_allclose(b.costs.as_dict()[name], value, rtol=1e-12, err_msg=name)


def test_skus_that_share_nothing_are_each_their_own_network():
    """With unlimited storage and lanes, no fixed or facility cost, each SKU's copy moves
    exactly as the network of that SKU alone fed the same demand and orders."""
    base = copy.deepcopy(PRODUCT)
    for node in base["nodes"][1:]:
        node.update(storage_capacity=float("inf"), facility_cost=0)
    base["lanes"][1].update(capacity=float("inf"), fixed_cost=0)
    skus = [
        {"name": "a", "demand_scale": 2.0, "value": 1.5, "volume": 2},
        {"name": "b", "demand_cv": 1.2, "stocked_at": ["dc", "store", "shop"], "drop_ship": False},
    ]
    both = build_network(with_skus(*skus, base=base))
    alone = [build_network(with_skus(sku, base=base)) for sku in skus]
    layout = both.skus
    b = 5
    noise = NoiseStream(both, b, seed=11)
    state = initial_state(both, b)
    states = [initial_state(net, b) for net in alone]
    rng = np.random.default_rng(2)
    zone_of = both.own_demand_points + both.fulfilment_zone
    for _ in range(30):
        draw = noise.draw(state.period)
        action = rng.integers(0, 12, (b, both.num_lanes)).astype(float)
        state, costs, flows = transition(both, state, action, draw)
        total = np.zeros(b)
        for s, net in enumerate(alone):
            nodes = layout.node_sku == s
            lanes = layout.lane_sku == s
            points = layout.point_sku == s
            own = Noise(draw.demand[:, points], draw.lead_time[:, lanes])
            states[s], c, f = transition(net, states[s], action[:, lanes], own)
            assert_array_equal(f.shipped, flows.shipped[:, lanes])
            assert_array_equal(f.sales, flows.sales[:, points])
            assert_array_equal(f.lost, flows.lost[:, points])
            assert_array_equal(f.fulfilled, flows.fulfilled[:, layout.point_sku[zone_of] == s])
            assert_array_equal(states[s].on_hand, state.on_hand[:, nodes])
            total += c.total
        assert_allclose(costs.total, total, rtol=1e-12)
    # SKU b is not drop-shipped: its zone has two lanes, SKU a's three.
    assert both.fulfilment_names[-2:] == ("store/b=>z/b", "dc/b=>z/b")


TWO = {
    "nodes": [
        {"name": "s", "kind": "supplier"},
        {"name": "dc", "holding_cost": 1, "storage_capacity": 20, "facility_cost": 3,
         "demand": {"dist": "deterministic", "mean": 0}, "penalty": 1},
    ],
    "lanes": [{"source": "s", "destination": "dc", "lead_time": 0, "unit_cost": 1,
               "capacity": 10, "fixed_cost": 5}],
    "skus": [{"name": "small"}, {"name": "big", "volume": 2}],
}  # fmt: skip


def step(cfg: dict, action: list[float], on_hand: list[float] | None = None):
    net = build_network(cfg)
    state = initial_state(net, 1)
    if on_hand is not None:
        state.on_hand[0] = on_hand
    noise = Noise(np.zeros((1, net.num_demand_nodes)), np.zeros((1, net.num_lanes), dtype=int))
    return net, transition(net, state, np.array([action], dtype=float), noise)


def test_skus_share_a_lanes_capacity_in_proportion_to_the_volume_they_ask():
    # 8 small + 6 big ask 8 + 12 = 20 volume units of 10: each gets floor(q * 10 / 20).
    _, (_, costs, flows) = step(TWO, [8, 6])
    assert_array_equal(flows.requested, [[4, 3]])
    assert_array_equal(flows.clipped, [[4, 3]])
    assert costs.ordering[0] == 4 + 3 * 1 * 2 + 5  # unit cost per volume; one truck
    _, (_, costs, flows) = step(TWO, [4, 3])  # exactly full: nothing cut
    assert_array_equal(flows.requested, [[4, 3]])
    _, (_, costs, _) = step(TWO, [0, 1])
    assert costs.ordering[0] == 2 + 5  # one SKU ships: the truck still costs 5
    _, (_, costs, _) = step(TWO, [0, 0])
    assert costs.ordering[0] == 0
    assert costs.facility[0] == 3  # the node's facility cost once, not once per SKU


def test_skus_share_a_nodes_storage_in_volume_units():
    cfg = copy.deepcopy(TWO)
    cfg["lanes"][0]["capacity"] = float("inf")
    # 6 small + 1 big on hand (8 volume units); 10 + 10 arrive (30 units) into 12 free.
    net, (nxt, _, flows) = step(cfg, [10, 10], on_hand=[0, 6, 0, 1])
    assert net.node_names == ("s/small", "dc/small", "s/big", "dc/big")
    assert_array_equal(flows.overflow, [[0, 6, 0, 6]])  # keep floor(10 * 12 / 30) = 4 each
    assert_array_equal(nxt.on_hand, [[0, 10, 0, 5]])  # 10 + 2 * 5 = 20 volume units


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda c: c["skus"].append({"name": "small"}), "skus[2].name: duplicate SKU name"),
        (lambda c: c["skus"][0].update(stocked_at=["dcc"]), "skus[0].stocked_at: 'dcc' is not"),
        (lambda c: c["skus"][0].update(stocked_at=["s"]), "skus[0].stocked_at: 's' is not a"),
        (lambda c: c["skus"][0].update(colour=1), "skus[0].colour: unknown key"),
        (lambda c: c["skus"][0].update(volume=0), "skus[0].volume"),
        (lambda c: c["skus"][1].update(demand_cv=0.5), "skus[1].demand_cv: 0.5 at 'dc'"),
        (lambda c: c["nodes"][0].update(capacity=50), "nodes[0].capacity: a finite supplier"),
        (lambda c: c["nodes"][1].update(initial_on_hand=5), "nodes[1].initial_on_hand"),
        (
            lambda c: c["lanes"][0].update(lead_time={"support": [1, 2]}),
            "lanes[0].lead_time: a random lead time",
        ),
        (
            lambda c: c["nodes"][1].update(disruption={"failure_prob": 0.1}),
            "nodes[1].disruption.failure_prob: random disruptions",
        ),
    ],
)
def test_a_bad_sku_config_is_a_one_line_error_naming_the_field(change, message):
    cfg = copy.deepcopy(TWO)
    cfg["nodes"][1]["demand"] = {"mean": 3}
    change(cfg)
    with pytest.raises(ConfigError, match=r"^" + message.replace("[", r"\[").replace(".", r"\.")):
        build_network(cfg)


def test_a_demand_node_must_hold_every_sku_and_a_zone_needs_a_source_holding_it():
    cfg = with_skus({"name": "x", "stocked_at": ["dc", "store"]})
    with pytest.raises(ConfigError, match=r"skus\[0\]\.stocked_at: node 'shop' has its own"):
        build_network(cfg)
    cfg = with_skus({"name": "x", "stocked_at": ["store", "shop"]})
    with pytest.raises(ConfigError, match=r"skus\[0\]\.stocked_at: \['shop', 'store'\] cannot be"):
        build_network(cfg)
    cfg["lanes"].append({"source": "s", "destination": "store", "lead_time": 1})
    cfg["lanes"].append({"source": "s", "destination": "shop", "lead_time": 1})
    build_network(cfg)  # supplied directly; the zone is served from the store
    cfg["zones"][0]["fulfilment"] = cfg["zones"][0]["fulfilment"][1:]
    cfg["skus"][0]["drop_ship"] = False
    with pytest.raises(ConfigError, match=r"skus\[0\]\.stocked_at: no fulfilment source of zone"):
        build_network(cfg)


def test_abc_by_cumulative_volume_and_xyz_by_coefficient_of_variation():
    cfg = copy.deepcopy(TWO)
    cfg["nodes"][1]["demand"] = {"mean": 10}
    cfg["skus"] = [
        {"name": "slow", "demand_scale": 0.05},  # 5 % of volume: C; cv 1/sqrt(0.5): Z
        {"name": "fast", "demand_scale": 0.8},  # 80 %: A; cv 1/sqrt(8) = 0.35: X
        {"name": "mid", "demand_scale": 0.15},  # 95 %: B; cv 1/sqrt(1.5) = 0.82: Y
    ]
    segments = abc_xyz(build_network(cfg))
    assert [s.segment for s in segments] == ["CZ", "AX", "BY"]
    assert segments[1].mean == pytest.approx(8.0)
    assert segments[0].cv == pytest.approx(1 / np.sqrt(0.5))


def test_the_design_assortment_spans_the_classes_and_segmented_placement_follows_them():
    cfg = design_config("hub_and_spoke", 12, 4, demand_mean=20, skus=True, placement="segmented")
    net = build_network(cfg)
    segments = {s.name: s.segment for s in abc_xyz(net)}
    assert list(segments.values()) == ["AX", "AY", "BX", "BZ", "CX", "CZ"]
    held = {sku["name"]: sku.get("stocked_at") for sku in cfg["skus"]}
    assert held["fast_steady"] is None and held["mid_steady"] is None  # everywhere
    assert held["mid_erratic"] == held["slow_steady"] == ["central_dc"]
    drop = [sku["name"] for sku in cfg["skus"] if sku["drop_ship"]]
    assert drop == ["slow_erratic"]
    assert "supplier/slow_erratic=>zone_0/slow_erratic" in net.fulfilment_names
    assert "supplier/fast_steady=>zone_0/fast_steady" not in net.fulfilment_names
    with pytest.raises(ValueError, match=r"^env\.placement: 'segmented' needs env\.skus=true"):
        design_config("regional", skus=True, placement="segmented")


def test_evaluation_reports_each_skus_kpis():
    cfg = with_skus({"name": "a"}, {"name": "b", "demand_scale": 0.5, "value": 3})
    cfg["lanes"][1]["fixed_cost"] = 0  # the one cost the SKUs share, with the facility's
    net = build_network(cfg)
    result = evaluate(net, BaseStock(net, levels=12.0), num_envs=4, periods=60, warmup=10, seed=1)
    per_sku = result.per_sku
    assert list(per_sku) == ["a", "b"]
    # Means 3 + 2 + 4 = 9 and 4.5: shares 2/3 (A) and 1 (C); cv sqrt(3 + 2 + 9) / 9 = 0.42
    # and sqrt(1.5 + 1 + 2.25) / 4.5 = 0.48 (X).
    assert [k["segment"] for k in per_sku.values()] == ["AX", "CX"]
    for s, kpis in enumerate(per_sku.values()):
        on_hand = result.mean_on_hand[net.skus.node_sku == s].sum()
        assert kpis["mean_on_hand"] == pytest.approx(on_hand)
        assert 0 < kpis["fill_rate"] < 1
    demand = np.array([k["demand"] for k in per_sku.values()])
    fill = np.array([k["fill_rate"] for k in per_sku.values()])
    assert demand[0] == pytest.approx(2 * demand[1], rel=0.1)
    assert (fill * demand).sum() / demand.sum() == pytest.approx(result.fill_rate)
    assert result.summary()["per_sku"]["b"]["segment"] == "CX"
    # Each SKU's direct cost, plus the facility cost they share, is the whole cost.
    direct = sum(k["direct_cost"] for k in per_sku.values())
    shared = result.breakdown["facility"]
    assert direct + shared == pytest.approx(result.breakdown["total"], rel=1e-9)
    for kpis in per_sku.values():
        delivered = kpis["demand"] * kpis["fill_rate"]  # lost sales and no backlog at z...
        assert kpis["direct_cost_per_unit"] > kpis["direct_cost"] / kpis["demand"] - 1e-9
        assert delivered > 0
