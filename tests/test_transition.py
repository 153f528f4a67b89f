"""Hand-worked examples of ``transition``, one per preset family, checked number by number.

Every example builds a tiny network, drives ``transition`` with hand-made noise and
compares on-hand, backlog, pipeline, flows and each cost component against values worked
out by hand in the comments (event order of docs/architecture.md: arrivals, decision, demand, costs;
lead time L lands at the start of period t+L, before that period's demand).
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import lane, noise, q, single_node_config, state_with, store, supplier
from numpy.testing import assert_array_equal

from envs.network import build_network
from envs.transition import initial_state, ration, transition

COMPONENTS = ("holding", "in_transit", "backlog", "lost_sales", "overflow", "ordering", "transfer")


def assert_costs(costs, **expected: float) -> None:
    """Each named component equals its value; unnamed ones are 0; total is their sum."""
    values = {c: expected.get(c, 0.0) for c in COMPONENTS}
    for name, value in values.items():
        assert getattr(costs, name)[0] == pytest.approx(value), name
    assert costs.total[0] == pytest.approx(sum(values.values()))


def test_single_node_lost_sales_three_periods():
    # supplier -> store, L = 2, h = 1, p = 9 (lost), c = 2, K = 5, in-transit 0.5, x0 = 6.
    net = build_network(
        single_node_config(
            lead_time=2,
            holding_cost=1,
            penalty=9,
            initial_on_hand=6,
            lane={"unit_cost": 2, "fixed_cost": 5, "in_transit_holding": 0.5},
        )
    )
    s0 = initial_state(net, 1)
    assert net.max_lead_time == 2
    # t=0: order 4 (arrives at the start of t=2); demand 5 served from 6 -> 1 left.
    #   holding 1*1, in transit 4*0.5 = 2, ordering 5 + 2*4 = 13.
    s1, c, f = transition(net, s0, q(4), noise([5], [2]))
    assert_array_equal(s1.on_hand, [[0, 1]])
    assert_array_equal(s1.pipeline, [[[4]]])  # slot 0 = arrives at start of t+1 = 2
    assert_array_equal(f.shipped, [[4]])
    assert_array_equal(f.received, [[0]])
    assert_array_equal(f.sales, [[5]])
    assert_array_equal(f.filled, [[5]])
    assert_array_equal(f.lost, [[0]])
    assert_costs(c, holding=1, in_transit=2, ordering=13)
    assert s1.inventory_position(net)[0, 1] == 5  # 1 on hand + 4 in transit
    # t=1: no order; demand 3, only 1 on hand -> 2 lost (18). The 4 units are still in
    #   transit at the end of t=1 (0.5 * 4 = 2) and land at the start of t=2.
    s2, c, f = transition(net, s1, q(0), noise([3], [2]))
    assert_array_equal(s2.on_hand, [[0, 4]])
    assert_array_equal(s2.pipeline, [[[0]]])
    assert_array_equal(f.sales, [[1]])
    assert_array_equal(f.lost, [[2]])
    assert_array_equal(f.received, [[4]])
    assert_costs(c, in_transit=2, lost_sales=18)
    # t=2: order 3; demand 2 from 4 -> 2 left. holding 2, in transit 1.5, ordering 5 + 6.
    s3, c, f = transition(net, s2, q(3), noise([2], [2]))
    assert_array_equal(s3.on_hand, [[0, 2]])
    assert_array_equal(s3.pipeline, [[[3]]])
    assert_costs(c, holding=2, in_transit=1.5, ordering=11)
    assert_array_equal(s3.period, [3])
    assert_array_equal(s3.last_demand, [[2]])
    # The input states are never modified.
    assert_array_equal(s0.on_hand, [[0, 6]])
    assert_array_equal(s1.pipeline, [[[4]]])


def test_single_node_backlog_three_periods():
    # supplier -> store, L = 1, h = 1, b = 4 per unit per period, c = 1, x0 = 2.
    net = build_network(
        single_node_config(
            lead_time=1,
            holding_cost=1,
            unmet="backlog",
            penalty=4,
            initial_on_hand=2,
            lane={"unit_cost": 1},
        )
    )
    # t=0: order 3; demand 5: 2 sold, 3 backlogged (3*4 = 12); ordering 3. 3 land at t=1.
    s1, c, f = transition(net, initial_state(net, 1), q(3), noise([5], [1]))
    assert_array_equal(s1.on_hand, [[0, 3]])
    assert_array_equal(s1.backlog, [[0, 3]])
    assert_array_equal(f.sales, [[2]])
    assert_array_equal(f.filled, [[2]])
    assert_array_equal(f.backlog, [[3]])
    assert_array_equal(f.lost, [[0]])
    assert_costs(c, backlog=12, ordering=3)
    assert s1.inventory_position(net)[0, 1] == 0  # 3 on hand - 3 backlog
    # t=1: order 6; demand 1: the 3 on hand clear the old backlog (3 sales, 0 filled from
    #   this period's demand), 1 backlogged (4); ordering 6.
    s2, c, f = transition(net, s1, q(6), noise([1], [1]))
    assert_array_equal(s2.on_hand, [[0, 6]])
    assert_array_equal(s2.backlog, [[0, 1]])
    assert_array_equal(f.sales, [[3]])
    assert_array_equal(f.filled, [[0]])
    assert_costs(c, backlog=4, ordering=6)
    # t=2: no order; demand 2 + backlog 1 served from 6 -> 3 left (holding 3).
    s3, c, f = transition(net, s2, q(0), noise([2], [1]))
    assert_array_equal(s3.on_hand, [[0, 3]])
    assert_array_equal(s3.backlog, [[0, 0]])
    assert_array_equal(f.sales, [[3]])
    assert_array_equal(f.filled, [[2]])
    assert_costs(c, holding=3)


def test_serial_three_periods():
    # supplier -> stage_2 -> stage_1 (backlog, b = 10), both lanes L = 1.
    # h = 1 at stage_2 (x0 = 4), h = 2 at stage_1 (x0 = 2). Node order [supplier, s2, s1].
    net = build_network(
        {
            "nodes": [
                supplier(),
                store("stage_2", demand=None, holding_cost=1, initial_on_hand=4),
                store("stage_1", unmet="backlog", penalty=10, holding_cost=2, initial_on_hand=2),
            ],
            "lanes": [
                lane("supplier", "stage_2", lead_time=1),
                lane("stage_2", "stage_1", lead_time=1),
            ],
        }
    )
    # t=0: orders [5, 3]; stage_2 ships 3 of its 4 (1 left, holding 1). Demand 4 at
    #   stage_1: 2 sold, 2 backlogged (20). Arrivals: stage_2 +5 = 6, stage_1 +3 = 3.
    s1, c, f = transition(net, initial_state(net, 1), q(5, 3), noise([4], [1, 1]))
    assert_array_equal(f.shipped, [[5, 3]])
    assert_array_equal(s1.on_hand, [[0, 6, 3]])
    assert_array_equal(s1.backlog, [[0, 0, 2]])
    assert_costs(c, holding=1, backlog=20)
    # t=1: orders [2, 8]; stage_2 has only 6: ships 6 (requested 8). Demand 1 + backlog 2
    #   from 3: all served (filled 1 of this period's demand). Arrivals: +2, +6.
    s2, c, f = transition(net, s1, q(2, 8), noise([1], [1, 1]))
    assert_array_equal(f.requested, [[2, 8]])
    assert_array_equal(f.shipped, [[2, 6]])
    assert_array_equal(f.clipped, [[0, 0]])  # short stock is rationing, not clipping
    assert_array_equal(f.sales, [[3]])
    assert_array_equal(f.filled, [[1]])
    assert_array_equal(s2.on_hand, [[0, 2, 6]])
    assert_array_equal(s2.backlog, [[0, 0, 0]])
    assert_costs(c)
    # t=2: orders [0, 1]: stage_2 2 -> 1; demand 3 from 6 -> 3. holding 1*1 + 2*3 = 7.
    s3, c, f = transition(net, s2, q(0, 1), noise([3], [1, 1]))
    assert_array_equal(s3.on_hand, [[0, 1, 4]])
    assert_costs(c, holding=7)


def _owmr(rationing: str):
    # supplier -> warehouse (L = 1, c = 1) -> retailer_1..3 (L = 1), lost sales p = 10.
    # h = 0.5 at the warehouse (x0 = 10), 1 at the retailers (x0 = [2, 0, 1]).
    retailers = [
        store(f"r{i}", holding_cost=1, penalty=10, initial_on_hand=x0)
        for i, x0 in zip((1, 2, 3), (2, 0, 1))
    ]
    return build_network(
        {
            "nodes": [
                supplier(),
                store("warehouse", demand=None, holding_cost=0.5, initial_on_hand=10),
                *retailers,
            ],
            "lanes": [
                lane("supplier", "warehouse", lead_time=1, unit_cost=1),
                *(lane("warehouse", f"r{i}", lead_time=1) for i in (1, 2, 3)),
            ],
            "rationing": rationing,
        }
    )


# Hand-worked numbers per rule (node order [supplier, warehouse, r1, r2, r3]).
# t=0: the warehouse has 10, retailers ask [6, 4, 5] = 15.
#   proportional: floor(6*10/15, 4*10/15, 5*10/15) = [4, 2, 3] = 9, the 1 left goes to
#   the first short lane -> [5, 2, 3]; priority: lane order -> [6, 4, 0].
#   Demand [1, 1, 2] on [2, 0, 1]: sales [1, 0, 1], lost [0, 1, 1] (20), holding 1.
# t=1: the warehouse has 8 (arrived), retailers ask [2, 4, 6] = 12.
#   proportional: floor(2*8/12, 4*8/12, 6*8/12) = [1, 2, 4] = 7, +1 to r1 -> [2, 2, 4];
#   priority: [2, 4, 2].
#   proportional: demand [3, 3, 3] on [6, 2, 3] -> sales [3, 2, 3], lost 1, holding 3.
#   priority:     demand [3, 3, 3] on [7, 4, 0] -> sales [3, 3, 0], lost 3, holding 5.
# t=2: order 5 at the supplier; demand [1, 1, 1].
OWMR_EXPECTED = {
    "proportional": {
        "shipped": ([8, 5, 2, 3], [0, 2, 2, 4]),
        "on_hand": ([0, 8, 6, 2, 3], [0, 0, 5, 2, 4], [0, 5, 4, 1, 3]),
        "t1": {"holding": 3, "lost_sales": 10},
        "t2": {"holding": 8, "ordering": 5},
    },
    "priority": {
        "shipped": ([8, 6, 4, 0], [0, 2, 4, 2]),
        "on_hand": ([0, 8, 7, 4, 0], [0, 0, 6, 5, 2], [0, 5, 5, 4, 1]),
        "t1": {"holding": 5, "lost_sales": 30},
        "t2": {"holding": 10, "ordering": 5},
    },
}


@pytest.mark.parametrize("rule", ["proportional", "priority"])
def test_owmr_rationing_three_periods(rule):
    net = _owmr(rule)
    want = OWMR_EXPECTED[rule]
    lead = [1, 1, 1, 1]
    s1, c, f = transition(net, initial_state(net, 1), q(8, 6, 4, 5), noise([1, 1, 2], lead))
    assert_array_equal(f.requested, [[8, 6, 4, 5]])
    assert_array_equal(f.shipped, [want["shipped"][0]])
    assert_array_equal(f.sales, [[1, 0, 1]])
    assert_array_equal(f.lost, [[0, 1, 1]])
    assert_array_equal(s1.on_hand, [want["on_hand"][0]])
    assert_costs(c, holding=1, lost_sales=20, ordering=8)
    s2, c, f = transition(net, s1, q(0, 2, 4, 6), noise([3, 3, 3], lead))
    assert_array_equal(f.shipped, [want["shipped"][1]])
    assert_array_equal(s2.on_hand, [want["on_hand"][1]])
    assert_costs(c, **want["t1"])
    s3, c, f = transition(net, s2, q(5, 0, 0, 0), noise([1, 1, 1], lead))
    assert_array_equal(s3.on_hand, [want["on_hand"][2]])
    assert_costs(c, **want["t2"])


def test_proportional_rationing_uses_exact_floor():
    # Requests [22, 11, 11] against 30 units: floor(22*30/44) = 15 exactly and
    # floor(11*30/44) = floor(7.5) = 7, so the base is [15, 7, 7] and the 1 unit left goes
    # to the first lane still short -> [16, 7, 7]. (22 * (30/44) in floating point is
    # 14.999..., which would give [15, 8, 7].)
    net = _owmr("proportional")
    available = np.array([[np.inf, 30, 0, 0, 0]])
    shipped = ration(net, np.array([[0.0, 22, 11, 11]]), available)
    assert_array_equal(shipped, [[0, 16, 7, 7]])
    # Not short: every request is met in full, whatever the rule.
    assert_array_equal(ration(net, np.array([[7.0, 3, 2, 1]]), available), [[7, 3, 2, 1]])


def test_transshipment_lead_time_zero_and_one():
    # supplier -> r1, supplier -> r2 (L = 1); transfers r1 -> r2 and r2 -> r1 with lead time
    # 0 or 1 (drawn; here set by hand), 0.5 per unit. Lost sales p = 10, h = 1.
    transfer = {"lead_time": {"support": [0, 1]}, "unit_cost": 0.5}
    net = build_network(
        {
            "nodes": [
                supplier(),
                store("r1", holding_cost=1, penalty=10, initial_on_hand=6),
                store("r2", holding_cost=1, penalty=10),
            ],
            "lanes": [lane("supplier", "r1", lead_time=1), lane("supplier", "r2", lead_time=1)],
            "transfer_lanes": [lane("r1", "r2", **transfer), lane("r2", "r1", **transfer)],
        }
    )
    assert list(net.is_transfer) == [False, False, True, True]
    # t=0: transfer 4 from r1 to r2 with L = 0: lands at once, before demand [1, 3].
    #   r1: 6 - 4 - 1 = 1; r2: 4 - 3 = 1. holding 2, transfer 4 * 0.5 = 2.
    s1, c, f = transition(net, initial_state(net, 1), q(0, 0, 4, 0), noise([1, 3], [1, 1, 0, 0]))
    assert_array_equal(f.received, [[0, 0, 4, 0]])
    assert_array_equal(f.sales, [[1, 3]])
    assert_array_equal(s1.on_hand, [[0, 1, 1]])
    assert_costs(c, holding=2, transfer=2)
    # t=1: transfer 1 from r1 to r2 with L = 1: it does not serve r2's demand this period.
    #   r2 has 1 for a demand of 2 -> 1 lost (10). Supplier order 2 to r1 (L = 1).
    #   Arrivals at t=2: r1 +2, r2 +1.
    s2, c, f = transition(net, s1, q(2, 0, 1, 0), noise([0, 2], [1, 1, 1, 0]))
    assert_array_equal(f.lost, [[0, 1]])
    assert_array_equal(f.received, [[2, 0, 1, 0]])
    assert_array_equal(s2.on_hand, [[0, 2, 1]])
    assert_costs(c, lost_sales=10, transfer=0.5)
    # t=2: transfer 1 from r2 to r1 with L = 0: r1 has 3 for a demand of 3.
    s3, c, f = transition(net, s2, q(0, 0, 0, 1), noise([3, 0], [1, 1, 1, 0]))
    assert_array_equal(f.sales, [[3, 0]])
    assert_array_equal(f.lost, [[0, 0]])
    assert_array_equal(s3.on_hand, [[0, 0, 0]])
    assert_costs(c, transfer=0.5)


def _disruptable():
    # supplier -> warehouse -> store (L = 1), every node and the first lane can fail.
    down = {"failure_prob": 0.1, "recovery_prob": 0.5}
    return build_network(
        {
            "nodes": [
                supplier(disruption=down),
                store("warehouse", demand=None, initial_on_hand=5, disruption=down),
                store("store"),
            ],
            "lanes": [
                lane("supplier", "warehouse", lead_time=1, fixed_cost=3, disruption=down),
                lane("warehouse", "store", lead_time=1, fixed_cost=2),
            ],
        }
    )


@pytest.mark.parametrize(
    ("node_up", "lane_up", "shipped", "ordering"),
    [
        ([True, True, True], [True, True], [4, 3], 5),
        ([False, True, True], [True, True], [0, 3], 2),  # supplier down: ships nothing
        ([True, False, True], [True, True], [4, 0], 3),  # warehouse down: cannot ship
        ([True, True, True], [False, True], [0, 3], 2),  # lane down: carries nothing
    ],
)
def test_disruption_down_node_or_lane_ships_nothing(node_up, lane_up, shipped, ordering):
    net = _disruptable()
    assert net.has_disruptions
    s = state_with(net, node_up=node_up, lane_up=lane_up)
    s1, c, f = transition(net, s, q(4, 3), noise([0], [1, 1]))
    assert_array_equal(f.shipped, [shipped])
    # Fixed costs are charged only for lanes that actually shipped.
    assert c.ordering[0] == ordering
    assert_array_equal(s1.on_hand, [[0, 5 - shipped[1] + shipped[0], shipped[1]]])


def test_disruption_up_down_switching():
    net = _disruptable()
    s = state_with(net, node_up=[False, True, True], lane_up=[True, True])
    # supplier down, u = 0.4 < recovery 0.5 -> up; warehouse up, u = 0.05 < failure 0.1 ->
    # down; the store never fails; lane 0 up, u = 0.1 >= failure 0.1 -> stays up; lane 1
    # never fails.
    s1, _, _ = transition(
        net,
        s,
        q(0, 0),
        noise([0], [1, 1], node_disruption=[0.4, 0.05, 0.9], lane_disruption=[0.1, 0]),
    )
    assert_array_equal(s1.node_up, [[True, False, True]])
    assert_array_equal(s1.lane_up, [[True, True]])
    # An up lane with u < failure goes down; a down node with u >= recovery stays down.
    s2, _, _ = transition(
        net,
        s1,
        q(0, 0),
        noise([0], [1, 1], node_disruption=[0.5, 0.7, 0.0], lane_disruption=[0.09, 0]),
    )
    assert_array_equal(s2.node_up, [[True, False, True]])
    assert_array_equal(s2.lane_up, [[False, True]])


def test_storage_capacity_overflow_is_disposed_and_charged():
    # store with room for 5, overflow cost 2, h = 1; lead time 0 or 1 (set by hand).
    net = build_network(
        single_node_config(
            lead_time={"support": [0, 1]}, holding_cost=1, storage_capacity=5, overflow_cost=2
        )
    )
    # t=0: 8 land at once: 3 disposed (6), 5 on hand, demand 1 -> 4 (holding 4).
    s1, c, f = transition(net, initial_state(net, 1), q(8), noise([1], [0]))
    assert_array_equal(f.overflow, [[0, 3]])
    assert_array_equal(s1.on_hand, [[0, 4]])
    assert_costs(c, holding=4, overflow=6)
    # t=1: 3 ordered with L = 1, no demand: 4 held (4); at the start of t=2 the 3 arrive on
    #   top of 4: 2 disposed (4), charged in this call.
    s2, c, f = transition(net, s1, q(3), noise([0], [1]))
    assert_array_equal(f.overflow, [[0, 2]])
    assert_array_equal(s2.on_hand, [[0, 5]])
    assert_costs(c, holding=4, overflow=4)


def test_batch_rows_are_independent():
    # Two envs in one call give the same numbers as each alone.
    net = _owmr("proportional")
    s = initial_state(net, 2)
    s.on_hand[1] = [0, 3, 1, 1, 1]
    actions = np.array([[8, 6, 4, 5], [0, 2, 2, 2]], dtype=float)
    demand = np.array([[1, 1, 2], [2, 0, 5]], dtype=float)
    lead = np.ones((2, 4), dtype=np.int64)
    from envs.noise import Noise

    both, c2, f2 = transition(net, s, actions, Noise(demand, lead))
    for i in range(2):
        one = state_with(net, on_hand=s.on_hand[i])
        alone, c1, f1 = transition(net, one, actions[i : i + 1], Noise(demand[i : i + 1], lead[:1]))
        assert_array_equal(alone.on_hand[0], both.on_hand[i])
        assert_array_equal(f1.shipped[0], f2.shipped[i])
        assert c1.total[0] == c2.total[i]
