"""The compiled step (envs.compiled) gives the numpy reference's numbers bit for bit.

States, flows, costs, rewards and observations are compared with ``np.array_equal`` over
many steps with autoresets, on every preset, on every generated design (zones, drop-ship,
facility and handling costs, outages, several SKUs) and on random networks drawn by the
invariant tests' generator (with zones, outages and SKUs added), in float32 and float64.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_array_equal
from test_invariants import SETTINGS, network_configs, scenarios
from test_torch_transition import CALENDAR

from envs import compiled
from envs.designs import DESIGNS, PLACEMENTS, design_config
from envs.network import build_network
from envs.noise import NoiseStream
from envs.presets import PRESETS, load_env_config, make_network
from envs.simulator import Simulator
from envs.transition import initial_state, transition


def assert_same(a, b, where: str) -> None:
    """Every array of two dataclass instances (State, Flows, Costs) has the same values."""
    for name, value in vars(a).items():
        if value is None:  # zone fields of a network without zones
            assert getattr(b, name) is None, f"{where}: {name}"
            continue
        assert_array_equal(value, getattr(b, name), err_msg=f"{where}: {name}")
        assert value.dtype == getattr(b, name).dtype, f"{where}: {name} dtype"


def assert_same_steps(net, mode: str, dtype, num_envs: int, steps: int, episode: int, seed: int):
    kw = dict(episode_length=episode, action_mode=mode, seed=seed, dtype=dtype)
    fast = Simulator(net, num_envs, backend="numba", **kw)
    reused = Simulator(net, num_envs, backend="numba", reuse_buffers=True, **kw)
    ref = Simulator(net, num_envs, backend="numpy", **kw)
    space = fast.actions.space
    space.seed(seed)
    previous = None
    for t in range(steps):
        action = np.stack([space.sample() for _ in range(num_envs)]).astype(float)
        if mode in ("quantity", "order_up_to"):
            action *= 1.2  # beyond [-1, 1] too: the map clips
        b = ref.step(action)
        for sim in (fast, reused):
            a = sim.step(action)
            where = f"{mode} step {t}" + (" (reused buffers)" if sim is reused else "")
            for name in ("obs", "reward", "terminated", "truncated"):
                assert_array_equal(getattr(a, name), getattr(b, name), err_msg=f"{where}: {name}")
            assert (a.final_obs is None) == (b.final_obs is None), where
            if a.final_obs is not None:
                assert_array_equal(a.final_obs, b.final_obs, err_msg=f"{where}: final_obs")
            assert_same(a.flows, b.flows, where)
            assert_same(sim.state, ref.state, where)
            for name, value in a.costs.as_dict().items():
                expected = b.costs.as_dict()[name]
                assert_array_equal(value, expected, err_msg=f"{where}: cost {name}")
        # A reused step's outputs stay valid through the next step.
        if previous is not None:
            kept, copied = previous
            assert_same(kept, copied, f"{mode} step {t}: the previous step's flows")
        previous = (a.flows, copy.deepcopy(a.flows))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("preset", sorted(PRESETS.values()))
def test_presets_match_the_numpy_reference(preset, dtype):
    cfg = load_env_config(preset)
    net = make_network(cfg)
    for mode in sorted({cfg.action_mode, "quantity", "order_up_to", "raw"}):
        assert_same_steps(net, mode, dtype, num_envs=33, steps=30, episode=9, seed=3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_promotion_calendar_matches_the_numpy_reference(dtype):
    # A calendar (6-period cycle) and a sine with a promotion (4 periods; joint cycle 12): the
    # compiled step reads the same per-phase tables; 9-period episodes reset mid-cycle.
    net = build_network(CALENDAR)
    assert net.demand.season_period == 12
    for mode in ("order_up_to", "quantity", "raw"):
        assert_same_steps(net, mode, dtype, num_envs=17, steps=40, episode=9, seed=5)


@SETTINGS
@given(network_configs(), st.sampled_from(["order_up_to", "quantity", "raw"]), st.integers(0, 99))
def test_random_networks_simulator_match(config, mode, seed):
    net = build_network(config)
    for dtype in (np.float32, np.float64):
        assert_same_steps(net, mode, dtype, num_envs=3, steps=10, episode=4, seed=seed)


@SETTINGS
@given(scenarios(), st.sampled_from([np.float64, np.float32]))
def test_random_networks_transition_match(scenario, dtype):
    net, actions, seed = scenario
    periods, num_envs, _ = actions.shape
    stream = NoiseStream(net, num_envs, seed)
    state = initial_state(net, num_envs, dtype)
    for t in range(periods):
        noise = stream.draw(state.period)
        fast = compiled.transition(net, state, actions[t], noise)
        ref = transition(net, state, actions[t], noise)
        for a, b in zip(fast, ref):
            assert_same(a, b, f"period {t}")
        assert_array_equal(fast[1].total, ref[1].total)
        state = ref[0]


def test_bad_actions_and_backend_are_named():
    net = make_network(load_env_config("network"))
    sim = Simulator(net, 2, action_mode="raw")
    action = np.zeros((2, net.num_lanes))
    action[1, 3] = np.nan
    # the numpy path's checks (ActionMap.check), the same messages on both backends
    with pytest.raises(
        ValueError, match="non-finite value nan for lane 'supplier_b->dc_3' in env 1"
    ):
        sim.step(action)
    with pytest.raises(ValueError, match=r"action: expected shape \[2, 14\] .*got \[2, 3\]"):
        sim.step(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="backend: must be one of"):
        Simulator(net, 2, backend="jax")
    with pytest.raises(ValueError, match="backend: must be one of"):
        compiled.transition_function("jax")


def test_correlated_and_traced_demand_match(tmp_path):
    # Demand the kernel cannot sample itself (a copula, a trace) is drawn by the stream
    # and fed in; the numbers stay the reference's.
    base = {
        "nodes": [
            {"name": "s", "kind": "supplier"},
            {"name": "a", "holding_cost": 1, "demand": {"dist": "poisson", "mean": 4}},
            {"name": "b", "holding_cost": 1, "demand": {"dist": "poisson", "mean": 6}},
        ],
        "lanes": [
            {"source": "s", "destination": "a", "lead_time": {"support": [1, 2]}},
            {"source": "s", "destination": "b", "lead_time": 2, "in_transit_holding": 0.1},
        ],
    }
    for node in base["nodes"][1:]:
        node.update(unmet="backlog", penalty=9)
    trace = tmp_path / "trace.csv"
    trace.write_text("a,b\n3,5\n0,7\n4,4\n")
    for extra in ({"demand_correlation": 0.6}, {"demand_trace": str(trace)}):
        net = build_network({**base, **extra})
        for dtype in (np.float32, np.float64):
            assert_same_steps(net, "order_up_to", dtype, num_envs=5, steps=12, episode=5, seed=1)


# ------------------------------------------ zones, landed costs, outages, several SKUs


@pytest.mark.parametrize("design", DESIGNS)
def test_designs_match_the_numpy_reference(design):
    # Zones served rank by rank, drop-ship, facility/handling/fulfilment costs and
    # scheduled outages (of the first stock node, of the last replenishment lane);
    # 5-period episodes reset the zones' backlog mid-run.
    plain = design_config(design, 6, 2)
    last = plain["lanes"][-1]
    variants = (
        {},
        {"fallback": False},
        {"transfers": True, "outage": {"node": plain["nodes"][1]["name"], "start": 2, "end": 5}},
        {"outage": {"lane": f"{last['source']}->{last['destination']}", "start": 1, "end": 4}},
    )
    for variant in variants:
        net = build_network(design_config(design, 6, 2, **variant))
        for dtype in (np.float32, np.float64):
            for mode in ("order_up_to", "raw"):
                assert_same_steps(net, mode, dtype, num_envs=7, steps=12, episode=5, seed=3)


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_several_skus_match_the_numpy_reference(placement):
    # Shared DC storage (volume units) and one truck's fixed cost per lane and period.
    for storage in (float("inf"), 30.0):
        cfg = design_config(
            "hub_and_spoke", 6, 2, skus=True, placement=placement, dc_storage=storage
        )
        net = build_network(cfg)
        for dtype in (np.float32, np.float64):
            for mode in ("order_up_to", "raw"):
                assert_same_steps(net, mode, dtype, num_envs=5, steps=12, episode=5, seed=3)


# Fewer examples than the invariant tests: each draws a larger network (kept fast by default).
ZONE_SETTINGS = settings(SETTINGS, max_examples=20)


@st.composite
def zone_network_configs(draw, skus: bool = False):
    """The invariant generator's networks with demand zones, facility and handling costs
    and scheduled outages added; with ``skus``, made shareable (no random disruption or
    lead time, no finite supplier capacity, empty start) and given two or three SKUs."""
    cfg = copy.deepcopy(draw(network_configs()))  # its disruption dicts are shared
    stocks = [n["name"] for n in cfg["nodes"] if n.get("kind") != "supplier"]
    sups = [n["name"] for n in cfg["nodes"] if n.get("kind") == "supplier"]
    costs = st.sampled_from([0.0, 0.5, 2.0])
    for node in cfg["nodes"]:
        if node.get("kind") != "supplier":
            node.update(facility_cost=draw(costs), handling_cost=draw(costs))
    window = st.tuples(st.integers(0, 3), st.integers(1, 3))
    for item in cfg["nodes"] + cfg["lanes"]:
        if draw(st.integers(0, 3)) == 0:
            start, length = draw(window)
            down = item.setdefault("disruption", {})
            down["outages"] = [{"start": start, "end": start + length}]
    zones = []
    for z in range(draw(st.integers(1, 3))):
        sources = draw(
            st.lists(st.sampled_from(stocks + sups), min_size=1, max_size=3, unique=True)
        )
        if not any(s in stocks for s in sources):
            sources.append(draw(st.sampled_from(stocks)))
        cap = st.sampled_from([None, 1, 3]) if not skus else st.just(None)
        zones.append(
            {
                "name": f"z{z}",
                "demand": {"dist": "poisson", "mean": draw(st.sampled_from([1, 3, 6]))},
                "unmet": draw(st.sampled_from(["lost", "backlog"])),
                "penalty": draw(costs),
                "fulfilment": [
                    {
                        "source": s,
                        "delivery_time": draw(st.integers(0, 2)),
                        "unit_cost": draw(costs),
                        **({} if (c := draw(cap)) is None else {"capacity": c}),
                    }
                    for s in sources
                ],
            }
        )
    cfg["zones"] = zones
    if skus:
        for node in cfg["nodes"]:
            node.get("disruption", {}).pop("failure_prob", None)
            node.pop("capacity", None)
            if node.get("kind") != "supplier":
                node["initial_on_hand"] = 0
        for item in cfg["lanes"] + cfg["transfer_lanes"]:
            item.get("disruption", {}).pop("failure_prob", None)
            if not isinstance(item["lead_time"], int):
                item["lead_time"] = item["lead_time"]["support"][0]
        volume = st.sampled_from([0.5, 1.0, 1.5, 3.0])
        cfg["skus"] = [
            {
                "name": f"k{s}",
                "volume": draw(volume),
                "value": draw(volume),
                "demand_scale": draw(st.sampled_from([1.0, 2.0])),  # keeps whole means
                "drop_ship": draw(st.booleans()),
            }
            for s in range(draw(st.integers(2, 3)))
        ]
    return cfg


@ZONE_SETTINGS
@given(
    zone_network_configs(), st.sampled_from(["order_up_to", "quantity", "raw"]), st.integers(0, 99)
)
def test_random_zone_networks_match(config, mode, seed):
    net = build_network(config)
    for dtype in (np.float32, np.float64):
        assert_same_steps(net, mode, dtype, num_envs=3, steps=10, episode=4, seed=seed)


@ZONE_SETTINGS
@given(zone_network_configs(skus=True), st.sampled_from(["order_up_to", "raw"]), st.integers(0, 99))
def test_random_sku_networks_match(config, mode, seed):
    net = build_network(config)
    for dtype in (np.float32, np.float64):
        assert_same_steps(net, mode, dtype, num_envs=3, steps=10, episode=4, seed=seed)
