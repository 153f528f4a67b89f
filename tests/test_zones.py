"""Demand zones, fulfilment lanes, drop-ship, facility and handling costs, scheduled
outages (envs.transition.serve_zones, envs.designs) and their KPIs (baselines.kpi)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from baselines.evaluation import evaluate
from baselines.kpi import KPIMeter
from baselines.policy_base import Policy
from envs.network import build_network
from envs.noise import Noise
from envs.schema import ConfigError
from envs.simulator import Simulator
from envs.transition import initial_state, transition

SUPPLIED = {
    "nodes": [
        {"name": "s", "kind": "supplier"},
        {"name": "a", "holding_cost": 1, "initial_on_hand": 10},
        {"name": "b", "holding_cost": 1, "initial_on_hand": 10},
    ],
    "lanes": [
        {"source": "s", "destination": "a", "lead_time": 2, "unit_cost": 1},
        {"source": "s", "destination": "b", "lead_time": 1, "unit_cost": 1},
    ],
}


def own_demand(unmet_b: str = "backlog") -> dict:
    cfg = copy.deepcopy(SUPPLIED)
    cfg["nodes"][1].update(demand={"mean": 4}, unmet="lost", penalty=9)
    cfg["nodes"][2].update(demand={"dist": "negative_binomial", "mean": 3, "std": 2})
    cfg["nodes"][2].update(unmet=unmet_b, penalty=5)
    return cfg


def as_zones(unmet_b: str = "backlog") -> dict:
    """``own_demand`` with each node's demand moved to a zone served by that node alone,
    delivered at once: the same model."""
    cfg = copy.deepcopy(SUPPLIED)
    cfg["zones"] = [
        {"name": "za", "demand": {"mean": 4}, "unmet": "lost", "penalty": 9,
         "fulfilment": [{"source": "a"}]},
        {"name": "zb", "demand": {"dist": "negative_binomial", "mean": 3, "std": 2},
         "unmet": unmet_b, "penalty": 5, "fulfilment": [{"source": "b"}]},
    ]  # fmt: skip
    return cfg


def run(cfg: dict, periods: int = 60, num_envs: int = 3, **kw) -> list:
    sim = Simulator(cfg, num_envs=num_envs, seed=7, dtype=np.float64, action_mode="quantity", **kw)
    rng = np.random.default_rng(0)
    return [sim.step(rng.integers(0, 9, (num_envs, sim.net.num_lanes))) for _ in range(periods)]


@pytest.mark.parametrize("unmet", ["backlog", "lost"])
def test_a_node_with_own_demand_is_a_zone_with_one_lane_delivered_at_once(unmet):
    own, zoned = run(own_demand(unmet)), run(as_zones(unmet))
    for a, b in zip(own, zoned):
        for name, value in a.costs.as_dict().items():
            assert_array_equal(value, b.costs.as_dict()[name], err_msg=name)
        for name in ("demand", "sales", "filled", "lost", "backlog", "shipped", "received"):
            assert_array_equal(getattr(a.flows, name), getattr(b.flows, name), err_msg=name)


def test_zone_networks_run_the_compiled_step_by_default():
    # tests/test_compiled.py checks that it gives the reference's numbers bit for bit.
    assert Simulator(as_zones()).backend == "numba"
    assert Simulator(own_demand()).backend == "numba"


def test_a_zone_tries_its_lanes_in_order_and_drop_ships_what_stock_cannot_serve():
    cfg = copy.deepcopy(SUPPLIED)
    cfg["nodes"][1]["initial_on_hand"] = 3
    cfg["nodes"][2]["initial_on_hand"] = 2
    cfg["zones"] = [
        {
            "name": "z",
            "demand": {"dist": "deterministic", "mean": 8},
            "penalty": 9,
            "fulfilment": [
                {"source": "a", "delivery_time": 0, "unit_cost": 0.5},
                {"source": "b", "delivery_time": 1, "unit_cost": 1.0},
                {"source": "s", "delivery_time": 3, "unit_cost": 2.0, "capacity": 2},
            ],
        }
    ]
    net = build_network(cfg)
    state = initial_state(net, 1)
    noise = Noise(np.array([[8.0]]), np.array([[2, 1]]), None, None)
    nxt, costs, flows = transition(net, state, np.zeros((1, 2)), noise)
    # 3 from a, 2 from b, 2 drop-shipped (the lane's capacity), 1 lost.
    assert_array_equal(flows.fulfilled, [[3, 2, 2]])
    assert_array_equal(flows.lost, [[1]])
    assert_array_equal(flows.zone_lead_time, [[[3, 2, 2]]])
    assert costs.fulfilment[0] == 3 * 0.5 + 2 * 1.0 + 2 * 2.0
    assert costs.lost_sales[0] == 9
    assert_array_equal(nxt.on_hand, [[0, 0, 0]])


def test_a_backlog_zone_serves_its_oldest_orders_first_and_knows_their_age():
    cfg = copy.deepcopy(SUPPLIED)
    cfg["nodes"][1]["initial_on_hand"] = 0
    cfg["zones"] = [
        {
            "name": "z",
            "demand": {"dist": "deterministic", "mean": 5},
            "unmet": "backlog",
            "penalty": 1,
            "fulfilment": [{"source": "a", "delivery_time": 0}],
        }
    ]
    net = build_network(cfg)
    state = initial_state(net, 1)

    def period(stock_arriving: float):
        nonlocal state
        state.on_hand[0, 1] += stock_arriving
        noise = Noise(np.array([[5.0]]), np.array([[2, 1]]), None, None)
        state, _, flows = transition(net, state, np.zeros((1, 2)), noise)
        return flows

    period(0)  # t0: 5 backlogged
    period(0)  # t1: 10 backlogged (5 aged 2, 5 aged 1 at t2)
    flows = period(12)  # t2: 12 units: the 5 oldest (age 2), 5 of t1 (age 1), 2 of t2's
    assert_array_equal(flows.zone_lead_time, [[[2, 5, 5]]])
    assert_array_equal(state.zone_backlog, [[[3, 0]]])  # 3 of t2's own demand remain
    assert_array_equal(state.inventory_position(net)[0, 1], -3)


def test_the_meter_ages_a_demand_nodes_backlog_as_a_zone_does():
    """A demand node's order lead times are reconstructed by the meter (first in, first
    out); the zone of the same model carries the ages in its state: they must agree."""

    class Constant(Policy):
        def __init__(self, q):
            self.q = q

        def act(self, state):
            return np.full((state.num_envs, 2), self.q)

        def describe(self):
            return {"quantity": self.q}

    kw = dict(num_envs=4, periods=300, warmup=40, seed=3)
    own = evaluate(build_network(own_demand()), Constant(3.0), **kw)
    zoned = evaluate(build_network(as_zones()), Constant(3.0), **kw)
    assert own.order_lead_time_per_point[1, 1] > 0.05  # backlog does wait
    np.testing.assert_allclose(own.order_lead_time_per_point, zoned.order_lead_time_per_point)
    assert own.mean_order_lead_time == pytest.approx(zoned.mean_order_lead_time)
    assert own.cost_mean == zoned.cost_mean


def test_facility_cost_every_period_and_handling_per_unit_shipped_out():
    cfg = own_demand()
    cfg["nodes"][1].update(facility_cost=7.0, handling_cost=0.5)
    results = run(cfg, periods=20)
    for r in results:
        assert_array_equal(r.costs.facility, 7.0)
        shipped_from_a = r.flows.sales[:, 0]  # a ships only to its own customers
        assert_array_equal(r.costs.handling, 0.5 * shipped_from_a)


def test_a_scheduled_outage_stops_a_node_shipping_in_its_window_only():
    cfg = as_zones("lost")
    cfg["nodes"][1]["initial_on_hand"] = 1000
    cfg["nodes"][1]["disruption"] = {"outages": [{"start": 5, "end": 8}]}
    results = run(cfg, periods=12, num_envs=2)
    served = np.array([r.flows.fulfilled[:, 0] for r in results])  # a => za
    assert (served[5:8] == 0).all()
    assert (served[:5] > 0).all() and (served[8:] > 0).all()


def test_a_zone_network_gives_env_i_the_same_numbers_in_any_batch():
    full = run(as_zones(), periods=30, num_envs=4)
    for i in (0, 3):
        sim = Simulator(as_zones(), num_envs=1, seed=7, first_env=i, dtype=np.float64,
                        action_mode="quantity")  # fmt: skip
        rng = np.random.default_rng(0)
        actions = [rng.integers(0, 9, (4, 2)) for _ in range(30)]
        for t in range(30):
            r = sim.step(actions[t][i : i + 1])
            assert r.costs.total[0] == full[t].costs.total[i]


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda z: z[0]["fulfilment"][0].update(source="aa"), "did you mean a?"),
        (lambda z: z[1].update(name="za"), "zones[1].name: duplicate name 'za'"),
        (lambda z: z[0].update(name="a"), "zones[0].name: duplicate name 'a'"),
        (lambda z: z[0].update(fulfilment=[{"source": "s"}]), "no stock node among its sources"),
        (lambda z: z[0]["fulfilment"].append({"source": "a"}), "is listed twice"),
        (lambda z: z[0]["fulfilment"][0].update(delivery_tme=1), "did you mean delivery_time?"),
        (lambda z: z[0]["fulfilment"][0].update(delivery_time=-1), "zones[0].fulfilment[0]"),
        (lambda z: z[0].pop("penalty"), "zones[0].penalty: required"),
    ],
)
def test_zone_config_errors_name_the_field_and_value(edit, message):
    cfg = as_zones()
    edit(cfg["zones"])
    with pytest.raises(ConfigError, match=None) as err:
        build_network(cfg)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_an_outage_must_end_after_it_starts():
    cfg = own_demand()
    cfg["nodes"][1]["disruption"] = {"outages": [{"start": 5, "end": 5}]}
    with pytest.raises(ConfigError, match=r"nodes\[1\]\.disruption\.outages\[0\]\.end: must be"):
        build_network(cfg)


def test_the_meter_counts_drop_ship_and_landed_cost_per_unit():
    cfg = as_zones("lost")
    cfg["zones"][0]["fulfilment"].append({"source": "s", "delivery_time": 2, "unit_cost": 3})
    cfg["zones"][0]["demand"] = {"mean": 9}  # more than a's orders bring: a runs short
    meter = KPIMeter(build_network(cfg))
    for r in run(cfg, periods=40):
        meter.add(r.costs.as_dict(), r.flows, np.zeros((3, 3)))
    s = meter.summary()
    dropped = sum(r.flows.fulfilled[:, 1].sum() for r in run(cfg, periods=40))
    assert dropped > 0 and s["dropship_volume"] == pytest.approx(dropped / 120)
    cost = sum(r.costs.total.sum() for r in run(cfg, periods=40))
    sold = sum(r.flows.sales.sum() for r in run(cfg, periods=40))
    assert s["landed_cost_per_unit"] == pytest.approx(cost / sold)


def test_hdpo_refuses_a_zone_network_with_a_clear_error():
    torch = pytest.importorskip("torch")
    from envs.torch_transition import constants

    with pytest.raises(ValueError, match="does not model demand zones"):
        constants(build_network(as_zones()), torch.zeros(1))


def test_a_design_study_with_an_outage_reports_its_kpis_and_plots(tmp_path):
    """Two designs (one with a DC down in periods 40-49) and a six-SKU placement, tuned
    base-stock and a few PPO steps on the zone networks, tiny budgets: the study's table,
    outage KPIs, per-SKU KPIs and plots."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    import pandas as pd

    (tmp_path / "conf" / "experiment").mkdir(parents=True)
    (tmp_path / "conf" / "experiment" / "study_smoke.yaml").write_text(
        """# @package _global_
defaults:
  - smoke
benchmark:
  name: study_smoke
  scenarios:
    - {name: central, env: design, overrides: [env.design=centralised, env.zones=4]}
    - name: regional
      env: design
      overrides: [env.design=regional, env.zones=4, env.regions=2,
                  "env.outage={node: dc_0, start: 40, end: 50}"]
    - name: skus
      env: design
      overrides: [env.design=hub_and_spoke, env.zones=4, env.regions=2, env.skus=true,
                  env.placement=segmented, env.demand_mean=20, env.dc_storage=60]
  agents:
    - {name: ppo, agent: ppo, seeds: [0], overrides: [agent.num_envs=2, agent.model.n_steps=64,
       agent.model.batch_size=64, agent.model.n_epochs=1]}
  eval: {envs: 4, periods: 120, warmup: 20, seed: 12345}
"""
    )
    args = [
        "--config-dir",
        str(tmp_path / "conf"),
        "experiment=study_smoke",
        f"hydra.run.dir={tmp_path / 'run'}",
    ]
    tmp_path = tmp_path / "run"
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run(
        [sys.executable, "-m", "experiments.benchmark", *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    json.loads(out.stdout.strip().splitlines()[-1])
    df = pd.read_csv(tmp_path / "results.csv")
    assert set(df.scenario) == {"central", "regional", "skus"}
    central, regional = df[df.scenario == "central"], df[df.scenario == "regional"]
    assert central.fill_rate_during_outage.isna().all()
    assert regional.fill_rate_during_outage.notna().all()
    assert (df.landed_cost_per_unit > 0).all() and (df.mean_order_lead_time >= 0).all()
    # Centralised: every zone is one period from the DC, so nothing arrives the same period.
    assert (central.same_period_share == 0).all()
    assert "Scheduled outage" in (tmp_path / "report.md").read_text()
    for png in ("scenarios.png", "outage_regional.png", "skus.png"):
        assert (tmp_path / png).stat().st_size > 1000
    # Several SKUs: one row per policy and SKU, only for the SKU scenario.
    skus = pd.read_csv(tmp_path / "per_sku.csv")
    assert set(skus.scenario) == {"skus"}
    assert len(skus) == 6 * len(df[df.scenario == "skus"])
    assert set(skus[skus.sku == "fast_steady"].locations) == {3}  # central + 2 regional DCs
    assert set(skus[skus.sku == "slow_erratic"].locations) == {1}  # central only
    assert ((skus.fill_rate > 0) & (skus.fill_rate <= 1)).all()
    assert (skus.direct_cost > 0).all()
    assert "## Per SKU" in (tmp_path / "report.md").read_text()


def test_outage_kpis_measure_the_window_and_the_recovery():
    from baselines.kpi import outage_kpis

    demand = np.full(30, 100.0)
    filled = demand.copy()
    filled[10:15] = 40.0  # the outage
    filled[15:18] = 90.0  # recovering
    lost = demand - filled
    series = {
        "demand": demand,
        "filled": filled,
        "lost": lost,
        "delivered": filled,
        "waited": np.where(np.arange(30) < 10, 0.0, filled),
    }
    k = outage_kpis(series, envs=2, window=(10, 15), warmup=2, smoothing=1)
    assert k["fill_rate_before"] == 1.0 and k["fill_rate_during"] == pytest.approx(0.4)
    assert k["lost_during"] == 5 * 60 / 2 and k["lost_after"] == 3 * 10 / 2
    assert k["recovery_periods"] == 3
    assert k["lead_time_before"] == 0 and k["lead_time_during"] == 1
    with pytest.raises(ValueError, match="outage: window"):
        outage_kpis(series, envs=2, window=(1, 5), warmup=2)


def test_the_readme_zone_example_builds():
    from pathlib import Path

    import yaml

    text = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = text[text.index("## Distributed-inventory studies") :]
    block = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    net = build_network(yaml.safe_load(block)["network"])
    assert net.fulfilment_names == ("dc_north=>city", "dc_south=>city", "factory=>city")
    assert net.outages == (("node", 2, 400, 420),)


@pytest.mark.parametrize("preset", ["design", "hub_and_spoke"])
def test_a_network_override_on_a_generated_preset_is_an_error_not_ignored(preset):
    from envs.presets import load_env_config, make_network

    cfg = load_env_config(preset, ["+env.network.rationing=priority"])
    with pytest.raises(ValueError, match=f"env.network: set, but env.generator={preset}"):
        make_network(cfg)
