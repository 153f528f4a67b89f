"""TensorBoard logs read back with tensorboard's EventAccumulator: namespaced tags exist,
values are finite, references are flat lines, hparams and the trajectory figure are there."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from agents.callbacks import log_hparams
from agents.factory import agent_settings
from agents.training import train_agent
from envs.presets import CONF_DIR, make_network

TINY = [
    "agent.num_envs=4",
    "agent.model.n_steps=32",
    "agent.model.batch_size=64",
    "agent.model.n_epochs=1",
    "train.total_timesteps=384",
    "train.eval_every=128",
    "train.checkpoint_every=1000",
    "train.eval.envs=4",
    "train.eval.periods=40",
    "train.eval.warmup=5",
]


@pytest.fixture(scope="module")
def events(tmp_path_factory):
    run = tmp_path_factory.mktemp("tb_run")
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="train", overrides=["env=owmr_transship", *TINY])
    net = make_network(cfg.env)
    refs = {"base_stock": 12.5, "s_S": 13.25}
    trained = train_agent(net, cfg.env, cfg.agent, cfg.train, 0, run, refs)
    log_hparams(trained.logger, agent_settings(cfg.agent), {"final/cost_mean": 11.0}, 384)
    trained.logger.close()
    acc = EventAccumulator(str(run / "tb"))
    acc.Reload()
    return acc, net, refs, run


def test_namespaced_kpi_tags_are_logged_and_finite(events):
    acc, net, _, _ = events
    tags = set(acc.Tags()["scalars"])
    expected = {"cost/holding", "cost/lost_sales", "cost/transfer", "cost/total"}
    expected |= {"flow/transfer_volume", "eval/cost_mean", "eval/cost_ci95"}
    expected |= {"service/mean_order_lead_time", "inventory/turns", "flow/dropship_volume"}
    expected |= {f"service/order_lead_time/{b}" for b in ("same_period", "next_period", "later")}
    expected.add("landed_cost/per_unit_delivered")
    for i in net.demand_nodes:
        name = net.node_names[i]
        expected |= {f"service/fill_rate/{name}", f"service/cycle_service_level/{name}"}
    for i in net.stock_nodes:
        expected.add(f"inventory/mean_on_hand/{net.node_names[i]}")
    assert expected <= tags, expected - tags
    for tag in expected:
        values = [e.value for e in acc.Scalars(tag)]
        assert values and np.all(np.isfinite(values)), tag
    for tag in (t for t in expected if t.startswith("service/") and "mean" not in t):
        assert all(0 <= e.value <= 1 for e in acc.Scalars(tag))
    # The cost components add up to the total (same window of steps).
    parts = [t for t in tags if t.startswith("cost/") and t != "cost/total"]
    total = acc.Scalars("cost/total")[-1].value
    assert sum(acc.Scalars(t)[-1].value for t in parts) == pytest.approx(total, rel=1e-4)


def test_eval_matches_history_and_baselines_are_flat_lines(events):
    acc, _, refs, run = events
    history = json.loads((run / "evaluations.json").read_text())
    evals = acc.Scalars("eval/cost_mean")
    assert [e.step for e in evals] == [h["timesteps"] for h in history]
    np.testing.assert_allclose(
        [e.value for e in evals], [h["cost_mean"] for h in history], rtol=1e-5
    )
    for name, cost in refs.items():
        line = acc.Scalars(f"baseline/{name}")
        assert [e.step for e in line] == [e.step for e in evals]  # one point per evaluation
        np.testing.assert_allclose([e.value for e in line], cost, rtol=1e-6)


def test_hparams_and_trajectory_figure(events):
    acc, *_ = events
    hparams = acc.PluginTagToContent("hparams")
    assert {"_hparams_/experiment", "_hparams_/session_start_info"} <= set(hparams)
    assert b"learning_rate" in hparams["_hparams_/session_start_info"]
    assert acc.Scalars("final/cost_mean")[-1].value == pytest.approx(11.0)
    assert "trajectory/inventory" in acc.Tags()["images"]
