"""The evaluate entry point end to end, and the registry every entry point builds with."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from baselines.registry import make_policy, policy_config, policy_names
from baselines.transfers import WithTransfers
from envs.presets import CONF_DIR, load_env_config, make_network
from experiments.evaluate import run

ROOT = Path(__file__).resolve().parent.parent
REQUIRED = {"env", "policy", "params", "cost_mean", "cost_ci95", "fill_rate", "periods", "envs"}
TINY = [
    "eval.envs=4",
    "eval.periods=60",
    "eval.warmup=10",
    "tune.envs=8",
    "tune.periods=60",
    "tune.warmup=10",
]


def _evaluate(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "experiments.evaluate", *args, *TINY, f"hydra.run.dir={tmp_path}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_entry_point_tunes_evaluates_and_prints_json_last(tmp_path):
    proc = _evaluate(tmp_path, "env=lost_sales", "policy=base_stock", "policy.tune=true")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert REQUIRED | {"seed"} <= set(summary)
    assert summary["env"] == "lost_sales" and summary["policy"] == "base_stock"
    assert summary["envs"] == 4 and summary["periods"] == 60 and summary["seed"] == 12345
    assert summary["params"]["tuning"]["evaluations"] > 0
    assert summary["cost_mean"] > 0
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["cost_mean"] == summary["cost_mean"]
    assert (tmp_path / "config.yaml").is_file()


def test_entry_point_reports_bad_input_in_one_line(tmp_path):
    proc = _evaluate(tmp_path, "env=owmr", "policy=echelon_base_stock")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: echelon base-stock needs a serial network, got 4 demand nodes "
        "['retailer_1', 'retailer_2', 'retailer_3', 'retailer_4']"
    ]


def test_compose_and_run_with_a_transfer_rule(tmp_path):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(
            "evaluate",
            overrides=[
                "env=owmr_transship",
                "policy=s_S",
                "+policy/transfers=rebalance",
                "policy.transfers.low_days=1",
                *TINY,
            ],
        )
    summary = run(cfg, tmp_path, "s_S")
    assert summary["params"]["transfers"] == {
        "rule": "rebalance",
        "low_days": 1.0,
        "high_days": 5.0,
    }
    assert len(summary["params"]["reorder_points"]) == 5  # warehouse + 4 retailers
    assert REQUIRED <= set(summary)


@pytest.mark.parametrize("name", policy_names())
def test_every_policy_config_builds_on_lost_sales(name):
    net = make_network(load_env_config("lost_sales"))
    policy, params = make_policy(policy_config(name), net)
    assert params["policy"]
    assert hasattr(policy, "act")


def test_registry_composes_a_rule_and_tunes_with_a_budget():
    net = make_network(load_env_config("owmr_transship"))
    policy, params = make_policy(
        policy_config("base_stock", transfers="rebalance"),
        net,
        tune={
            "envs": 8,
            "periods": 40,
            "warmup": 10,
            "eval_envs": 4,
            "eval_periods": 40,
            "eval_warmup": 10,
            "max_iterations": 1,
            "seed": 3,
        },
    )
    assert isinstance(policy, WithTransfers)
    assert params["tuning"]["search_seed"] == 3
    assert set(params["transfers"]) == {"rule", "low_days", "high_days"}


def test_registry_rejects_unknown_names():
    with pytest.raises(ValueError, match="unknown policy 'basestock'"):
        policy_config("basestock")
    with pytest.raises(ValueError, match="unknown transfer rule 'shuffle'"):
        policy_config("base_stock", transfers="shuffle")


def test_policy_configs_are_typed_with_tune_and_transfers_declared():
    """A misspelt parameter or a wrong type fails when Hydra composes; ``tune`` and
    ``transfers`` are declared fields, the rest goes to the policy's constructor; a
    transfer rule is a config, not a name."""
    from hydra.errors import HydraException

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        for bad in ("policy.levles=[3]", "policy.tune=maybe", "+policy/transfers=shuffle"):
            with pytest.raises(HydraException):
                compose("evaluate", overrides=["policy=base_stock", bad])
    cfg = policy_config("s_S", transfers="rebalance")
    assert cfg.tune is False and cfg.transfers.low_days == 2.0
    net = make_network(load_env_config("owmr_transship"))
    policy, params = make_policy(cfg, net)
    assert isinstance(policy, WithTransfers) and params["transfers"]["rule"] == "rebalance"
    with pytest.raises(ValueError, match=r"policy\.transfers: expected a transfer-rule config"):
        make_policy({"_target_": "baselines.policies.BaseStock", "transfers": "rebalance"}, net)


def test_baselines_name_a_transfer_rule_structurally():
    from baselines.references import Baseline, reference_names

    net = make_network(load_env_config("owmr_transship"))
    entries = [{"policy": "base_stock", "transfers": "rebalance"}, "s_S"]
    baselines = reference_names(entries, net, optimal=False)
    assert baselines == [Baseline("base_stock", "rebalance"), Baseline("s_S")]
    assert [b.name for b in baselines] == ["base_stock+rebalance", "s_S"]  # report names
    with pytest.raises(ValueError, match=r"\{policy: base_stock, transfers: rebalance\}"):
        Baseline.of("base_stock+rebalance")
    with pytest.raises(ValueError, match="got keys"):
        Baseline.of({"policy": "base_stock", "transfer": "rebalance"})
