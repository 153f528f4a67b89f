"""The network schema: every way of describing a network rejects unknown keys and
malformed values in one line naming the field and the value (envs.schema)."""

from __future__ import annotations

import copy
import math

import pytest
from conftest import single_node_config, store

from envs.network import build_network
from envs.presets import load_env_config, make_network, read_edge_list
from envs.schema import MAX_LEAD_TIME, ConfigError


def _with(change):
    cfg = copy.deepcopy(single_node_config())  # conftest shares its demand dict
    change(cfg)
    return cfg


def _node(**kw):
    return lambda c: c["nodes"][1].update(kw)


def _lane(**kw):
    return lambda c: c["lanes"][0].update(kw)


def _demand(**kw):
    return lambda c: c["nodes"][1]["demand"].update(kw)


UNKNOWN_KEYS = [
    (_node(holdng_cost=1), r"^nodes\[1\]\.holdng_cost: unknown key .*did you mean holding_cost\?"),
    (_lane(lead_tme=2), r"^lanes\[0\]\.lead_tme: unknown key .*did you mean lead_time\?"),
    (_node(demnd={"mean": 3}), r"^nodes\[1\]\.demnd: unknown key .*did you mean demand\?"),
    (_demand(meen=3), r"^nodes\[1\]\.demand\.meen: unknown key .*did you mean mean\?"),
    (
        _node(disruption={"failure_prb": 0.1}),
        r"^nodes\[1\]\.disruption\.failure_prb: unknown key .*did you mean failure_prob\?",
    ),
    (
        _lane(disruption={"recovery": 0.5}),
        r"^lanes\[0\]\.disruption\.recovery: unknown key .*did you mean recovery_prob\?",
    ),
    (
        _demand(seasonality={"perod": 4}),
        r"^nodes\[1\]\.demand\.seasonality\.perod: unknown key .*did you mean period\?",
    ),
    (
        _lane(lead_time={"suport": [1, 2]}),
        r"^lanes\[0\]\.lead_time\.suport: unknown key .*did you mean support\?",
    ),
    # Keys of the other kind of node are unknown too (a stock node has no supplier capacity).
    (_node(capacity=5), r"^nodes\[1\]\.capacity: unknown key .*did you mean storage_capacity\?"),
    (lambda c: c["nodes"][0].update(holding_cost=1), r"^nodes\[0\]\.holding_cost: unknown key"),
    (lambda c: c.update(ration="priority"), r"^ration: unknown key .*did you mean rationing\?"),
    # std belongs to normal and negative-binomial demand, not Poisson.
    (_demand(std=2), r"^nodes\[1\]\.demand\.std: unknown key"),
]


@pytest.mark.parametrize("change, message", UNKNOWN_KEYS)
def test_unknown_keys_are_rejected_with_the_closest_key(change, message):
    with pytest.raises(ConfigError, match=message):
        build_network(_with(change))


MALFORMED = [
    (_node(holding_cost="abc"), r"^nodes\[1\]\.holding_cost: expected a number, got 'abc'$"),
    (_node(holding_cost=True), r"^nodes\[1\]\.holding_cost: expected a number, got True$"),
    (_node(penalty=math.nan), r"^nodes\[1\]\.penalty: .*finite.*got nan$"),
    (_lane(unit_cost=math.inf), r"^lanes\[0\]\.unit_cost: .*finite.*got inf$"),
    (_lane(capacity=math.nan), r"^lanes\[0\]\.capacity: .*NaN.*got nan$"),
    (_node(holding_cost=-1), r"^nodes\[1\]\.holding_cost: .*greater than or equal to 0.*got -1$"),
    (lambda c: c["nodes"].append(None), r"^nodes\[2\]: expected a mapping, got None$"),
    (_node(demand=[1, 2]), r"^nodes\[1\]\.demand: expected a mapping, got \[1, 2\]$"),
    (_node(disruption=0.1), r"^nodes\[1\]\.disruption: expected a mapping, got 0\.1$"),
    (lambda c: c.update(nodes={"a": 1}), r"^nodes: .*list.*got \{'a': 1\}$"),
    (_lane(lead_time="2"), r"^lanes\[0\]\.lead_time: expected a number, got '2'$"),
    (_lane(lead_time=None), r"^lanes\[0\]\.lead_time: expected a number, got None$"),
    (_demand(dist="poison"), r"^nodes\[1\]\.demand\.dist: must be one of poisson, .*'poison'$"),
    (_node(kind="warehouse"), r"^nodes\[1\]\.kind: must be one of supplier, stock.*'warehouse'$"),
    (_node(unmet="lots"), r"^nodes\[1\]\.unmet: .*'backlog' or 'lost'.*'lots'$"),
    (_node(name=None), r"^nodes\[1\]\.name: .*string.*got None$"),
    (lambda c: c.pop("lanes"), r"^lanes: required"),
    (lambda c: c.update(demand_correlation="high"), r"^demand_correlation: .*'high'$"),
    (
        _lane(lead_time={"support": [1, 2], "probs": [0.5, 0.6]}),
        r"^lanes\[0\]\.lead_time\.probs: must sum to 1, got \[0\.5, 0\.6\]$",
    ),
    (
        _lane(lead_time={"support": [1, 1]}),
        r"^lanes\[0\]\.lead_time\.support: repeated lead times in \[1, 1\]$",
    ),
]


@pytest.mark.parametrize("change, message", MALFORMED)
def test_malformed_values_are_named_in_one_line(change, message):
    with pytest.raises(ConfigError, match=message) as err:
        build_network(_with(change))
    assert "\n" not in str(err.value)


SEMANTIC = [
    # Whole units: fractional capacities and quantities are rejected, never rounded.
    (_lane(capacity=2.5), r"^lanes\[0\]\.capacity: must be a whole number of units, got 2\.5$"),
    (_node(storage_capacity=10.5), r"^nodes\[1\]\.storage_capacity: must be a whole number"),
    (_node(initial_on_hand=1.5), r"^nodes\[1\]\.initial_on_hand: must be a whole number"),
    (_lane(max_order=7.2), r"^lanes\[0\]\.max_order: must be a whole number"),
    (
        lambda c: c["nodes"][0].update(capacity=3.5),
        r"^nodes\[0\]\.capacity: must be a whole number",
    ),
    (
        _node(demand={"dist": "deterministic", "mean": 2.5}),
        r"^nodes\[1\]\.demand\.mean: must be a whole number",
    ),
    # A demand node that no lane path from a supplier reaches.
    (
        lambda c: c["nodes"].append(store("island")),
        r"^nodes\[2\]: demand node 'island' has no path of lanes from a supplier$",
    ),
    # Negative binomial: variance <= mean in some season phase, or mean 0.
    (
        _node(
            demand={
                "dist": "negative_binomial",
                "mean": 5,
                "std": 3,
                "seasonality": {"period": 10, "amplitude": 0.9},
            }
        ),
        r"^nodes\[1\]\.demand\.std: negative binomial needs variance > mean in every season",
    ),
    (
        _node(demand={"dist": "negative_binomial", "mean": 0, "std": 3}),
        r"^nodes\[1\]\.demand\.mean: negative binomial needs mean > 0",
    ),
    # Seasonal period: whole, bounded (alone and jointly).
    (
        _demand(seasonality={"period": 52.5, "amplitude": 0.1}),
        r"^nodes\[1\]\.demand\.seasonality\.period: must be a whole number, got 52\.5$",
    ),
    (
        _demand(seasonality={"period": 10**9, "amplitude": 0.1}),
        r"^nodes\[1\]\.demand\.seasonality\.period: .*less than or equal to 1000",
    ),
    # Promotions and calendars: one spelling at a time, lifts positive, windows in the cycle.
    (
        _demand(seasonality={"calendar": [1, 2], "amplitude": 0.2}),
        r"^nodes\[1\]\.demand\.seasonality\.amplitude: 0\.2 beside a calendar",
    ),
    (
        _demand(seasonality={"calendar": [1, 2], "period": 2}),
        r"^nodes\[1\]\.demand\.seasonality\.period: 2 beside a calendar",
    ),
    (
        _demand(seasonality={"calendar": [1.0] * 1001}),
        r"^nodes\[1\]\.demand\.seasonality\.calendar: .*at most 1000 items",
    ),
    (
        _demand(seasonality={"calendar": [1, 0]}),
        r"^nodes\[1\]\.demand\.seasonality\.calendar\[1\]: .*greater than 0, got 0$",
    ),
    (
        _demand(seasonality={"period": 26, "promotions": [{"start": 3, "end": 5, "lift": -2}]}),
        r"^nodes\[1\]\.demand\.seasonality\.promotions\[0\]\.lift: .*greater than 0, got -2$",
    ),
    (
        _demand(seasonality={"period": 26, "promotions": [{"start": 5, "end": 5, "lift": 2}]}),
        r"^nodes\[1\]\.demand\.seasonality\.promotions\[0\]\.end: 5 must be after start 5",
    ),
    (
        _demand(seasonality={"period": 26, "promotions": [{"start": 20, "end": 27, "lift": 2}]}),
        r"^nodes\[1\]\.demand\.seasonality\.promotions\[0\]\.end: 27 is past the season "
        r"cycle of period 26$",
    ),
    (
        _demand(
            seasonality={
                "period": 26,
                "promotions": [
                    {"start": 10, "end": 13, "lift": 2},
                    {"start": 8, "end": 11, "lift": 3},
                ],
            }
        ),
        r"^nodes\[1\]\.demand\.seasonality\.promotions\[0\]: periods 10\.\.12 overlap "
        r"promotions\[1\] \(periods 8\.\.10\)$",
    ),
    (
        _demand(seasonality={"period": 26, "promotions": [{"start": 1.5, "end": 3, "lift": 2}]}),
        r"^nodes\[1\]\.demand\.seasonality\.promotions\[0\]\.start: must be a whole number",
    ),
    (_demand(mean=1e12), r"^nodes\[1\]\.demand\.mean: .*less than or equal to 100000"),
    # Lead times: whole, bounded.
    (_lane(lead_time=1.5), r"^lanes\[0\]\.lead_time: must be a whole number, got 1\.5"),
    (_lane(lead_time=10**9), r"^lanes\[0\]\.lead_time: .*less than or equal to 1000.*1000000000$"),
    (
        _lane(lead_time={"support": [1, 10**9]}),
        r"^lanes\[0\]\.lead_time\.support\[1\]: .*less than or equal to 1000",
    ),
    # Penalty: required with demand, meaningless without.
    (_node(penalty=None), r"^nodes\[1\]\.penalty: demand node 'store' .* needs a penalty$"),
    (_node(demand=None), r"^nodes\[1\]\.penalty: 9 on node 'store', which has no demand"),
    (
        _lane(destination="stor"),
        r"^lanes\[0\]\.destination: unknown node 'stor'; did you mean store\?$",
    ),
    (
        lambda c: c.update(transfer_lanes=[{"source": "store", "destination": "supplier"}]),
        r"^transfer_lanes\[0\]\.destination: 'supplier' is a supplier$",
    ),
    (
        lambda c: c.update(transfer_lanes=[{"source": "x", "destination": "store", "kind": "r"}]),
        r"^transfer_lanes\[0\]\.kind: .*'transfer'",
    ),
]


@pytest.mark.parametrize("change, message", SEMANTIC)
def test_semantic_checks(change, message):
    with pytest.raises(ConfigError, match=message):
        build_network(_with(change))


def test_joint_season_cycle_is_bounded():
    cfg = single_node_config(demand={"mean": 5, "seasonality": {"period": 997, "amplitude": 0.1}})
    cfg["nodes"].append(
        store("b", demand={"mean": 5, "seasonality": {"period": 991, "amplitude": 0.1}})
    )
    cfg["lanes"].append({"source": "supplier", "destination": "b"})
    with pytest.raises(ConfigError, match=r"^nodes: the joint season cycle lcm\(997, 991\)"):
        build_network(cfg)


def test_joint_season_cycle_counts_a_calendar_by_its_length():
    cfg = single_node_config(demand={"mean": 5, "seasonality": {"calendar": [1.0] * 997}})
    cfg["nodes"].append(store("b", demand={"mean": 5, "seasonality": {"period": 991}}))
    cfg["lanes"].append({"source": "supplier", "destination": "b"})
    with pytest.raises(ConfigError, match=r"^nodes: the joint season cycle lcm\(997, 991\)"):
        build_network(cfg)


def test_huge_lead_time_is_a_clear_error_and_the_bound_itself_builds():
    # Rejected by the schema, before any array is sized by it (was a MemoryError).
    with pytest.raises(ConfigError, match="lead_time"):
        build_network(single_node_config(lead_time=10**9))
    assert build_network(single_node_config(lead_time=MAX_LEAD_TIME)).max_lead_time == 1000


def test_demand_tables_too_large_are_refused_before_allocation():
    demand = {
        "dist": "negative_binomial",
        "mean": 9e4,
        "std": 9e4,
        "seasonality": {"period": 20, "amplitude": 0.5},
    }
    with pytest.raises(ConfigError, match=r"^nodes: the demand tables would hold \d+ values"):
        build_network(single_node_config(demand=demand))


def test_legitimate_forms_are_accepted():
    # Whole numbers written as floats, infinite capacities, tuples, {value: L}, int costs.
    cfg = single_node_config(
        lead_time={"value": 3.0}, storage_capacity=math.inf, initial_on_hand=4.0
    )
    cfg["lanes"][0].update(capacity=float("inf"), unit_cost=1, max_order=20.0)
    cfg["nodes"][1]["demand"] = {"dist": "normal", "mean": 4.5, "std": 1.5}
    net = build_network(cfg)
    assert net.lead_times[0].support == (3,) and net.max_order[0] == 20
    cfg["lanes"][0]["lead_time"] = {"support": (1, 2), "probs": (0.5, 0.5)}
    assert build_network(cfg).lead_times[0].support == (1, 2)


def test_build_network_does_not_mutate_its_input():
    cfg = single_node_config()
    before = copy.deepcopy(cfg)
    build_network(cfg)
    assert cfg == before


def test_hydra_override_with_a_typo_is_rejected_naming_env_network():
    cfg = load_env_config("lost_sales", ["+env.network.nodes.1.holdng_cost=1"])
    with pytest.raises(
        ConfigError,
        match=r"^env\.network\.nodes\[1\]\.holdng_cost: unknown key .*did you mean holding_cost\?",
    ):
        make_network(cfg)
    cfg = load_env_config("lost_sales", ["+env.network.nodes.1.demand.std=2"])
    with pytest.raises(ConfigError, match=r"^env\.network\.nodes\[1\]\.demand\.std: unknown key"):
        make_network(cfg)
    cfg = load_env_config("lost_sales", ["env.penalty=abc"])
    with pytest.raises(ConfigError, match=r"^env\.network\.nodes\[1\]\.penalty: .*'abc'"):
        make_network(cfg)


EDGE_LISTS = [
    (
        "nodes:\n  s: {kind: supplier}\n  a: {holdng_cost: 1, demand: {mean: 2}, penalty: 1}\n"
        "edges:\n  - [s, a]\n",
        r"nodes\.a\.holdng_cost: unknown key .*did you mean holding_cost\?$",
    ),
    (
        "nodes:\n  s: {kind: supplier}\n  a: {demand: {mean: 2}, penalty: 1}\n"
        "edges:\n  - [s, a, {lead_tme: 2}]\n",
        r"edges\[0\]\.lead_tme: unknown key .*did you mean lead_time\?$",
    ),
    (
        "nodes:\n  s: {kind: supplier}\n  a: {demnd: {mean: 2}, penalty: 1}\nedges:\n  - [s, a]\n",
        r"nodes\.a\.demnd: unknown key .*did you mean demand\?$",
    ),
    (
        "nodes:\n  s: {kind: supplier}\n  a: [1, 2]\nedges:\n  - [s, a]\n",
        r"nodes\.a: expected a mapping, got \[1, 2\]$",
    ),
    (
        "nodes:\n  s: {kind: supplier}\n  a: {demand: {mean: 2}\nedges:\n  - [s, a]\n",
        r"line \d+ column \d+: YAML syntax error",
    ),
]


@pytest.mark.parametrize("text, message", EDGE_LISTS)
def test_edge_list_errors_name_the_file_and_the_key(tmp_path, text, message):
    path = tmp_path / "edges.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as err:
        read_edge_list(str(path))
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_yaml_syntax_error_names_the_line(tmp_path):
    path = tmp_path / "edges.yaml"
    path.write_text("nodes:\n  s: {kind: supplier}\n  a: b: c\nedges: []\n")
    with pytest.raises(
        ConfigError, match=r"line 3 column 7: YAML syntax error: mapping values are not allowed"
    ):
        read_edge_list(str(path))
