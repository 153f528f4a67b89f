"""Per-(env, agent) train defaults (conf/env_agent/<env>_<agent>.yaml): the pair gets its
own settings, every other pair keeps conf/train.yaml's and the agent's, the command line
still wins, and a benchmark's train configs do not see them (a benchmark states its own)."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir

import envs.presets  # noqa: F401  (registers the env schema in Hydra's ConfigStore)
from envs.presets import CONF_DIR
from experiments.benchmark import agent_overrides, train_config
from experiments.params import TrainConfig, check

EXPERIMENTS = sorted(p.stem for p in (CONF_DIR / "experiment").glob("*.yaml"))


def _train(*overrides: str):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="train", overrides=list(overrides))


def test_ppo_on_lost_sales_trains_with_its_own_defaults():
    cfg = _train("env=lost_sales", "agent=ppo")
    check(TrainConfig, cfg)
    assert cfg.train.total_timesteps == 1_000_000
    assert (cfg.agent.model.n_steps, cfg.agent.model.batch_size) == (512, 512)
    assert _train() == cfg  # the defaults are lost_sales + ppo


@pytest.mark.parametrize(
    "overrides", [["env=owmr_transship", "agent=ppo"], ["env=lost_sales", "agent=sac"]]
)
def test_other_pairs_keep_the_global_budget(overrides):
    cfg = _train(*overrides)
    assert cfg.train.total_timesteps == 300_000
    assert cfg == _train(*overrides, "~env_agent")


def test_the_command_line_wins_over_the_pair_defaults():
    cfg = _train("env=lost_sales", "agent=ppo", "train.total_timesteps=4096")
    assert cfg.train.total_timesteps == 4096
    assert _train("env=lost_sales", "agent=ppo", "agent.model.n_steps=64").agent.model.n_steps == 64
    assert _train("env=lost_sales", "agent=ppo", "~env_agent").train.total_timesteps == 300_000


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_benchmarks_train_without_pair_defaults(experiment):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        bench = compose(config_name="benchmark", overrides=[f"experiment={experiment}"]).benchmark
        for scenario in bench.scenarios:
            env_overrides = [str(o) for o in scenario.get("overrides", [])]
            for spec in bench.agents:
                overrides = agent_overrides(bench, spec)
                tcfg = train_config(str(scenario.env), env_overrides, str(spec.agent), overrides)
                own = [f"env={scenario.env}", f"agent={spec.agent}", *env_overrides, *overrides]
                plain = compose(config_name="train", overrides=[*own, "~env_agent"])
                assert tcfg == plain, (experiment, scenario.name, spec.agent)
    if experiment == "lost_sales_vi":  # "PPO default" there: the agent's own 16 x 256 steps
        assert tcfg.agent.model.n_steps == 256
