"""Property-based tests of ``transition`` over random small networks and random actions.

Random networks: 1-2 suppliers (some capacitated), 1-4 stocking nodes fed by a random DAG
of replenishment lanes, random transfer lanes, deterministic or random lead times
(0 included), lane capacities, storage capacities, backlog and lost-sales nodes, costs,
both rationing rules and, sometimes, disruptions.

Two kinds of checks per example:
- invariants that must hold whatever the rules' details (conservation of units, nothing
  negative, backlog only where demand backlogs, shipped <= requested <= capacity, ...);
- equality with ``reference_transition``, a plain per-env, per-node loop written from the
  documented rules (envs.network, envs.transition docstrings) without the vectorised
  tricks (incidence matrices, flat pipeline shift, cached constants).
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import lane, store, supplier
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

from envs.network import Network, build_network
from envs.noise import Noise, NoiseStream
from envs.presets import load_env_config, make_network
from envs.transition import State, initial_state, transition

SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ---------------------------------------------------------------------------- strategies


@st.composite
def lead_times(draw):
    if draw(st.booleans()):
        return draw(st.integers(0, 3))
    support = draw(st.lists(st.integers(0, 3), min_size=1, max_size=3, unique=True))
    weights = draw(st.lists(st.integers(1, 4), min_size=len(support), max_size=len(support)))
    return {"support": support, "probs": [w / sum(weights) for w in weights]}


costs = st.sampled_from([0.0, 0.5, 1.0, 3.0])


@st.composite
def network_configs(draw):
    disrupt = draw(st.booleans())
    down = {"failure_prob": 0.3, "recovery_prob": 0.5}

    def maybe_down():
        return {"disruption": down} if disrupt and draw(st.booleans()) else {}

    n_sup, n_stock = draw(st.integers(1, 2)), draw(st.integers(1, 4))
    sups = [f"sup{i}" for i in range(n_sup)]
    stocks = [f"n{i}" for i in range(n_stock)]
    nodes = []
    for name in sups:
        cap = draw(st.sampled_from([None, 0, 4, 12]))
        nodes.append(supplier(name, **({} if cap is None else {"capacity": cap}), **maybe_down()))
    has_demand = [draw(st.booleans()) for _ in stocks]
    has_demand[-1] = True  # at least one demand node
    for name, demands in zip(stocks, has_demand):
        storage = draw(st.sampled_from([None, 4, 10, 25]))
        attrs = {
            "holding_cost": draw(costs),
            "overflow_cost": draw(costs),
            "initial_on_hand": draw(st.integers(0, 10 if storage is None else min(storage, 10))),
            **({} if storage is None else {"storage_capacity": storage}),
            **maybe_down(),
        }
        demand = None
        if demands:
            mean = draw(st.sampled_from([0, 1, 3, 6]))
            demand = draw(
                st.sampled_from(
                    [{"dist": "poisson", "mean": mean}, {"dist": "deterministic", "mean": mean}]
                )
            )
        nodes.append(
            store(
                name,
                demand=demand,
                unmet=draw(st.sampled_from(["lost", "backlog"])),
                penalty=draw(costs),
                **attrs,
            )
        )

    def lane_attrs():
        cap = draw(st.sampled_from([None, 0, 2, 7]))
        return {
            "lead_time": draw(lead_times()),
            "unit_cost": draw(costs),
            "fixed_cost": draw(costs),
            "in_transit_holding": draw(costs),
            **({} if cap is None else {"capacity": cap}),
            **maybe_down(),
        }

    lanes, pairs = [], set()
    for j, name in enumerate(stocks):
        sources = draw(
            st.lists(st.sampled_from(sups + stocks[:j]), min_size=1, max_size=2, unique=True)
        )
        for source in sources:
            lanes.append(lane(source, name, **lane_attrs()))
            pairs.add((source, name))
    transfers = []
    if n_stock > 1:
        candidates = [(a, b) for a in stocks for b in stocks if a != b and (a, b) not in pairs]
        for a, b in draw(st.lists(st.sampled_from(candidates), max_size=3, unique=True)):
            transfers.append(lane(a, b, **lane_attrs()))
    return {
        "nodes": nodes,
        "lanes": lanes,
        "transfer_lanes": transfers,
        "rationing": draw(st.sampled_from(["proportional", "priority"])),
    }


@st.composite
def scenarios(draw):
    """A network, a number of envs and periods, a noise seed and actions [T, B, E]."""
    net = build_network(draw(network_configs()))
    periods, envs = draw(st.integers(1, 8)), draw(st.integers(1, 3))
    half_units = st.integers(-6, 30).map(lambda x: x / 2)  # negatives and halves too
    flat = draw(
        st.lists(
            half_units,
            min_size=periods * envs * net.num_lanes,
            max_size=periods * envs * net.num_lanes,
        )
    )
    actions = np.array(flat, dtype=float).reshape(periods, envs, net.num_lanes)
    return net, actions, draw(st.integers(0, 2**32 - 1))


# ------------------------------------------------------------------------ reference model


def receive(net: Network, on_hand: list, node: int, units: float, overflow: list) -> None:
    """Units land at ``node``; what exceeds its storage capacity is disposed of."""
    on_hand[node] += units
    extra = max(on_hand[node] - net.storage_capacity[node], 0.0)
    on_hand[node] -= extra
    overflow[node] += extra


def reference_transition(net: Network, state: State, action: np.ndarray, noise: Noise):
    """One period, env by env and node by node, straight from the documented rules.

    Returns (next on_hand, backlog, pipeline, node_up, lane_up, costs dict, flows dict).
    """
    b_count, n_count, e_count = state.on_hand.shape[0], net.num_nodes, net.num_lanes
    lmax = net.pipeline_length
    out = {
        k: np.zeros((b_count,) + shape)
        for k, shape in {
            "on_hand": (n_count,),
            "backlog": (n_count,),
            "pipeline": (e_count, lmax),
            "requested": (e_count,),
            "clipped": (e_count,),
            "shipped": (e_count,),
            "received": (e_count,),
            "overflow": (n_count,),
            "sales": (net.num_demand_nodes,),
            "filled": (net.num_demand_nodes,),
            "lost": (net.num_demand_nodes,),
            "flow_backlog": (net.num_demand_nodes,),
        }.items()
    }
    out["node_up"] = state.node_up.copy()
    out["lane_up"] = state.lane_up.copy()
    cost_names = (
        "holding",
        "in_transit",
        "backlog",
        "lost_sales",
        "overflow",
        "ordering",
        "transfer",
    )
    cost = {c: np.zeros(b_count) for c in cost_names}
    for b in range(b_count):
        on_hand = [float(x) for x in state.on_hand[b]]
        lt = noise.lead_time[b]
        # Decision: round (half to even, like np.rint), clip to [0, capacity], ration.
        wanted = [float(round(max(a, 0.0))) for a in action[b]]
        requested = [min(w, net.lane_capacity[e]) for e, w in enumerate(wanted)]
        clipped = [w - r for w, r in zip(wanted, requested)]
        if net.has_disruptions:
            requested = [r if state.lane_up[b, e] else 0.0 for e, r in enumerate(requested)]
        shipped = [0.0] * e_count
        for n in range(n_count):
            avail = net.supplier_capacity[n] if net.is_supplier[n] else on_hand[n]
            if net.has_disruptions and not state.node_up[b, n]:
                avail = 0.0
            mine = [e for e in range(e_count) if net.lane_source[e] == n]
            total = sum(requested[e] for e in mine)
            if total <= avail:
                for e in mine:
                    shipped[e] = requested[e]
                continue
            avail = int(avail)
            if net.rationing == "priority":
                left = avail
                for e in mine:
                    shipped[e] = min(requested[e], left)
                    left -= shipped[e]
            else:
                for e in mine:
                    shipped[e] = float(int(requested[e]) * avail // int(total))
                left = avail - sum(shipped[e] for e in mine)
                for e in mine:
                    extra = min(requested[e] - shipped[e], 1.0, left)
                    shipped[e] += extra
                    left -= extra
        for e in range(e_count):
            if not net.is_supplier[net.lane_source[e]]:
                on_hand[net.lane_source[e]] -= shipped[e]

        overflow = [0.0] * n_count
        received = [0.0] * e_count
        for e in range(e_count):
            if lt[e] == 0:
                receive(net, on_hand, net.lane_destination[e], shipped[e], overflow)
                received[e] += shipped[e]
        # Pipeline relative to period t+1: old slot k+1 -> k; lead time L >= 2 -> slot L-2.
        old = state.pipeline[b]
        pipe = np.zeros((e_count, lmax))
        arriving = [0.0] * e_count
        in_transit_units = [0.0] * e_count
        for e in range(e_count):
            pipe[e, :-1] = old[e, 1:]
            if lt[e] >= 2:
                pipe[e, lt[e] - 2] += shipped[e]
            arriving[e] = old[e, 0] + (shipped[e] if lt[e] == 1 else 0.0)
            in_transit_units[e] = old[e].sum() + (shipped[e] if lt[e] >= 1 else 0.0)
        # Demand: backlog first, then this period's demand.
        for d, n in enumerate(net.demand_nodes):
            old_backlog = state.backlog[b, n]
            asked = noise.demand[b, d] + old_backlog
            sales = min(on_hand[n], asked)
            filled = min(noise.demand[b, d], max(on_hand[n] - old_backlog, 0.0))
            on_hand[n] -= sales
            short = asked - sales
            out["sales"][b, d], out["filled"][b, d] = sales, filled
            if net.is_backlog[d]:
                out["backlog"][b, n] = out["flow_backlog"][b, d] = short
                cost["backlog"][b] += net.penalty[d] * short
            else:
                out["lost"][b, d] = short
                cost["lost_sales"][b] += net.penalty[d] * short
        cost["holding"][b] = sum(net.holding_cost[n] * on_hand[n] for n in range(n_count))
        cost["in_transit"][b] = sum(
            net.in_transit_holding[e] * in_transit_units[e] for e in range(e_count)
        )
        for e in range(e_count):
            lane_cost = net.fixed_cost[e] * (shipped[e] > 0) + net.unit_cost[e] * shipped[e]
            cost["transfer" if net.is_transfer[e] else "ordering"][b] += lane_cost
        # Arrivals at the start of t+1.
        for e in range(e_count):
            receive(net, on_hand, net.lane_destination[e], arriving[e], overflow)
            received[e] += arriving[e]
        cost["overflow"][b] = sum(net.overflow_cost[n] * overflow[n] for n in range(n_count))
        if noise.node_disruption is not None:
            for n in range(n_count):
                u = noise.node_disruption[b, n]
                up = state.node_up[b, n]
                out["node_up"][b, n] = u >= net.node_failure[n] if up else u < net.node_recovery[n]
            for e in range(e_count):
                u = noise.lane_disruption[b, e]
                up = state.lane_up[b, e]
                out["lane_up"][b, e] = u >= net.lane_failure[e] if up else u < net.lane_recovery[e]
        out["on_hand"][b] = on_hand
        out["pipeline"][b] = pipe
        out["requested"][b], out["clipped"][b], out["shipped"][b] = requested, clipped, shipped
        out["received"][b], out["overflow"][b] = received, overflow
    return out, cost


# ---------------------------------------------------------------------------------- tests


def check_invariants(net, state, action, nz, nxt, costs, flows) -> None:
    stock = ~net.is_supplier
    # The state keeps its float type (a float32 batch must not silently upcast).
    for name in ("on_hand", "backlog", "pipeline", "last_demand"):
        assert getattr(nxt, name).dtype == state.on_hand.dtype, name
    # Nothing negative.
    for name in ("on_hand", "backlog", "pipeline"):
        assert (getattr(nxt, name) >= 0).all(), name
    for name in ("requested", "clipped", "shipped", "received", "overflow", "sales", "lost"):
        assert (getattr(flows, name) >= 0).all(), name
    for name, value in costs.as_dict().items():
        assert (value >= 0).all(), name
    # Suppliers hold nothing; stock never exceeds storage capacity.
    assert (nxt.on_hand[:, net.is_supplier] == 0).all()
    assert (nxt.on_hand <= net.storage_capacity).all()
    # Backlog only at backlogging demand nodes.
    backlogging = np.zeros(net.num_nodes, dtype=bool)
    backlogging[net.demand_nodes[net.is_backlog]] = True
    assert (nxt.backlog[:, ~backlogging] == 0).all()
    assert (flows.lost[:, net.is_backlog] == 0).all()
    # shipped <= requested <= capacity; requested + clipped = the rounded non-negative action.
    assert (flows.shipped <= flows.requested).all()
    assert (flows.requested <= net.lane_capacity).all()
    wanted = np.rint(np.maximum(action, 0.0))
    assert_array_equal(flows.clipped, wanted - np.minimum(wanted, net.lane_capacity))
    # A source never ships more than it has (suppliers: their capacity).
    out = flows.shipped @ net.source_incidence
    assert (out[:, stock] <= state.on_hand[:, stock]).all()
    assert (out[:, net.is_supplier] <= net.supplier_capacity[net.is_supplier]).all()
    # Sales <= demand + old backlog; filled <= demand; demand = sales-side balance.
    old_backlog = state.backlog[:, net.demand_nodes]
    assert (flows.sales <= nz.demand + old_backlog).all()
    assert (flows.filled <= nz.demand).all()
    assert_array_equal(flows.sales + flows.lost + flows.backlog, nz.demand + old_backlog)
    # Conservation in this period: stock + pipeline change = supplier shipments - sales - disposed.
    from_suppliers = flows.shipped[:, net.is_supplier[net.lane_source]].sum(axis=1)
    before = state.on_hand.sum(axis=1) + state.pipeline.sum(axis=(1, 2))
    after = nxt.on_hand.sum(axis=1) + nxt.pipeline.sum(axis=(1, 2))
    assert_allclose(
        after - before, from_suppliers - flows.sales.sum(axis=1) - flows.overflow.sum(axis=1)
    )
    assert_array_equal(nxt.period, state.period + 1)


@SETTINGS
@given(scenarios(), st.sampled_from([np.float64, np.float32]))
def test_random_networks_match_reference_and_keep_invariants(scenario, dtype):
    # float32 is the simulator's default: quantities (whole units) must still be exact,
    # costs within float32 rounding.
    net, actions, seed = scenario
    periods, num_envs, _ = actions.shape
    stream = NoiseStream(net, num_envs, seed)
    state = initial_state(net, num_envs, dtype)
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    cum_in = np.zeros(num_envs)
    cum_sales = np.zeros(num_envs)
    cum_overflow = np.zeros(num_envs)
    for t in range(periods):
        nz = stream.draw(state.period)
        nxt, c, f = transition(net, state, actions[t], nz)
        check_invariants(net, state, actions[t], nz, nxt, c, f)
        ref, ref_cost = reference_transition(net, state, actions[t], nz)
        for name in ("on_hand", "backlog", "pipeline", "node_up", "lane_up"):
            assert_array_equal(getattr(nxt, name), ref[name], err_msg=name)
        for name in ("requested", "clipped", "shipped", "received", "overflow", "sales"):
            assert_array_equal(getattr(f, name), ref[name], err_msg=name)
        assert_array_equal(f.filled, ref["filled"])
        assert_array_equal(f.lost, ref["lost"])
        assert_array_equal(f.backlog, ref["flow_backlog"])
        for name, value in ref_cost.items():
            assert getattr(c, name).dtype == dtype, name
            assert_allclose(getattr(c, name), value, rtol=rtol, atol=1e-9, err_msg=name)
        cum_in += f.shipped[:, net.is_supplier[net.lane_source]].sum(axis=1)
        cum_sales += f.sales.sum(axis=1)
        cum_overflow += f.overflow.sum(axis=1)
        state = nxt
    # Over the whole run: initial stock + supplier shipments = stock + pipeline + sold + disposed.
    held = state.on_hand.sum(axis=1) + state.pipeline.sum(axis=(1, 2))
    assert_allclose(net.initial_on_hand.sum() + cum_in, held + cum_sales + cum_overflow)


def test_network_preset_long_run_conservation():
    # The 9-node preset, random order quantities, 60 periods: cumulative balance and a
    # pipeline that never holds anything beyond a lane's longest lead time.
    net = make_network(load_env_config("network"))
    rng = np.random.default_rng(3)
    stream = NoiseStream(net, 4, seed=11)
    state = initial_state(net, 4)
    cum_in, cum_out = np.zeros(4), np.zeros(4)
    supplier_lanes = net.is_supplier[net.lane_source]
    slots = np.arange(net.pipeline_length)
    longest = np.array([lt.max for lt in net.lead_times])
    for _ in range(60):
        nz = stream.draw(state.period)
        action = rng.integers(-2, 25, size=(4, net.num_lanes)).astype(float)
        nxt, c, f = transition(net, state, action, nz)
        check_invariants(net, state, action, nz, nxt, c, f)
        cum_in += f.shipped[:, supplier_lanes].sum(axis=1)
        cum_out += f.sales.sum(axis=1) + f.overflow.sum(axis=1)
        state = nxt
        # A shipment placed at t with lead time L >= 2 sits in slot L-2 at t+1.
        beyond = slots[None, :] > (longest[:, None] - 2)
        assert (state.pipeline[:, beyond] == 0).all()
    held = state.on_hand.sum(axis=1) + state.pipeline.sum(axis=(1, 2))
    assert_allclose(net.initial_on_hand.sum() + cum_in, held + cum_out)


@pytest.mark.parametrize("rule", ["proportional", "priority"])
def test_rationing_never_loses_units(rule):
    # Random requests from one short source: every unit available is shipped, no lane
    # gets more than it asked, and proportional shares stay within one unit of the
    # exact floor(request * available / total).
    net = build_network(
        {
            "nodes": [supplier(), store("w", demand=None), *(store(f"r{i}") for i in range(4))],
            "lanes": [lane("supplier", "w"), *(lane("w", f"r{i}") for i in range(4))],
            "rationing": rule,
        }
    )
    from envs.transition import ration

    rng = np.random.default_rng(0)
    request = rng.integers(0, 60, size=(500, 5)).astype(float)
    request[:, 0] = 0
    available = np.zeros((500, net.num_nodes))
    available[:, 0] = np.inf
    available[:, 1] = rng.integers(0, 120, size=500)
    shipped = ration(net, request, available)
    total = request[:, 1:].sum(axis=1)
    assert_array_equal(shipped[:, 1:].sum(axis=1), np.minimum(total, available[:, 1]))
    assert (shipped <= request).all() and (shipped >= 0).all()
    if rule == "proportional":
        short = total > available[:, 1]
        exact = request[short, 1:] * available[short, 1:2] // total[short, None]
        assert ((shipped[short, 1:] - exact >= 0) & (shipped[short, 1:] - exact <= 1)).all()
    else:
        # Priority: a lane gets something only if every earlier lane got all it asked.
        for e in range(2, 5):
            got = shipped[:, e] > 0
            assert (shipped[got, 1:e] == request[got, 1:e]).all()
