"""Per-(env, agent) train defaults (conf/env_agent/<env>_<agent>.yaml): the pair gets its
own budget, every other pair keeps conf/train.yaml's, the command line still wins, and a
benchmark's train configs (which set their own budget) are the same with or without them."""

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


def test_ppo_on_lost_sales_trains_for_its_own_budget():
    cfg = _train("env=lost_sales", "agent=ppo")
    check(TrainConfig, cfg)
    assert cfg.train.total_timesteps == 1_000_000
    assert _train().train.total_timesteps == 1_000_000  # the defaults are lost_sales + ppo


@pytest.mark.parametrize(
    "overrides", [["env=owmr_transship", "agent=ppo"], ["env=lost_sales", "agent=sac"]]
)
def test_other_pairs_keep_the_global_budget(overrides):
    assert _train(*overrides).train.total_timesteps == 300_000


def test_the_command_line_wins_over_the_pair_defaults():
    cfg = _train("env=lost_sales", "agent=ppo", "train.total_timesteps=4096")
    assert cfg.train.total_timesteps == 4096
    assert _train("env=lost_sales", "agent=ppo", "~env_agent").train.total_timesteps == 300_000


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_benchmarks_train_as_without_pair_defaults(experiment):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        bench = compose(config_name="benchmark", overrides=[f"experiment={experiment}"]).benchmark
        for scenario in bench.scenarios:
            env_overrides = [str(o) for o in scenario.get("overrides", [])]
            for spec in bench.agents:
                overrides = agent_overrides(bench, spec)
                args = (str(scenario.env), env_overrides, str(spec.agent))
                with_pair = train_config(*args, overrides)
                without = train_config(*args, [*overrides, "~env_agent"])
                assert with_pair == without, (experiment, scenario.name, spec.agent)
