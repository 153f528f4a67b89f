"""Entry-point parameters are checked before any work; bad input of any kind — a value,
Hydra's own override or composition errors — prints one line naming the option and
exits 2; in a multirun a failed job's error sits next to its results."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import HydraException

from envs.presets import CONF_DIR
from envs.schema import ConfigError
from experiments.job import one_line
from experiments.params import (
    BenchEnvConfig,
    BenchmarkConfig,
    EvaluateConfig,
    TrainConfig,
    check,
)

ROOT = Path(__file__).resolve().parent.parent


def _compose(name: str, *overrides: str):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name=name, overrides=list(overrides))


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.num_envs=0", r"^train\.num_envs: .*greater than or equal to 1, got 0$"),
        ("train.total_timesteps=0", r"^train\.total_timesteps: .*got 0$"),
        ("train.eval_every=0", r"^train\.eval_every: .*got 0$"),
        ("train.checkpoint_every=-1", r"^train\.checkpoint_every: .*got -1$"),
        ("train.eval.envs=1", r"^train\.eval\.envs: .*greater than or equal to 2, got 1$"),
        ("train.final_eval.warmup=5000", r"^train\.final_eval\.warmup: 5000 must be less than"),
        ("train.tune.envs=1", r"^train\.tune\.envs: must be at least 2, got envs=1$"),
        ("train.progress_bar=maybe", r"^train\.progress_bar: must be true, false or auto"),
        (
            "train.baselines=[base_stock+rebalance]",
            r"^train\.baselines\[0\]: .*\{policy: base_stock, transfers: rebalance\}",
        ),
        ("seed=-1", r"^seed: .*got -1$"),
        ("seed=4294967296", r"^seed: .*less than or equal to 4294967295"),
        ("agent.model.learning_rate=0", r"^agent\.model\.learning_rate: .*greater than 0"),
        ("agent.model.learning_rate=nan", r"^agent\.model\.learning_rate: .*finite"),
        ("agent.model.learning_rate=abc", r"^agent\.model\.learning_rate: expected a number"),
    ],
)
def test_train_parameters(override, message):
    with pytest.raises(ConfigError, match=message):
        check(TrainConfig, _compose("train", override))


@pytest.mark.parametrize(
    "name, override, key",
    [
        # A wrong type or an unknown key: Hydra rejects it when it composes (the schemas
        # in experiments.params), naming the key.
        ("train", "train.total_timesteps=2.5", "train.total_timesteps"),
        ("train", "train.total_timesteps=1e6", "train.total_timesteps"),
        ("train", "train.eval.envs=abc", "train.eval.envs"),
        ("train", "train.num_envz=3", "train.num_envz"),
        ("train", "agent.num_envs=many", "agent.num_envs"),
        ("train", "agent.nmae=x", "agent.nmae"),
        ("evaluate", "tune.envs=abc", "tune.envs"),
        ("evaluate", "tune.envz=3", "tune.envz"),
        ("evaluate", "eval.seed=x", "eval.seed"),
        ("benchmark", "benchmark.agents.0.seeds=[x]", "benchmark.agents"),
        ("benchmark", "benchmark.scenarios.0.overides=[]", "overides"),
        ("bench_env", "steps=abc", "steps"),
    ],
)
def test_hydra_rejects_unknown_keys_and_wrong_types_when_composing(name, override, key):
    extra = ["experiment=smoke"] if name == "benchmark" else []
    with pytest.raises(HydraException) as err:
        _compose(name, *extra, override)
    line = one_line(err.value)
    assert key in line and "\n" not in line, line


def test_valid_parameters_pass():
    check(TrainConfig, _compose("train", "train.total_timesteps=1000000"))
    check(TrainConfig, _compose("train", "agent=hdpo"))
    check(EvaluateConfig, _compose("evaluate"))
    check(BenchmarkConfig, _compose("benchmark", "experiment=default"))
    check(BenchEnvConfig, _compose("bench_env"))


@pytest.mark.parametrize(
    "name, override, message",
    [
        ("evaluate", "eval.envs=0", r"^eval\.envs: .*greater than or equal to 2, got 0$"),
        ("evaluate", "eval.periods=100", r"^eval\.warmup: 200 must be less than periods=100$"),
        ("evaluate", "tune.seed=-3", r"^tune\.seed: .*got -3$"),
        ("evaluate", "tune.warmup=300", r"^tune\.warmup: warmup=300 must be less than periods"),
        ("benchmark", "benchmark.tune.eval_envs=1", r"^benchmark\.tune\.eval_envs: .*=1$"),
        ("benchmark", "benchmark.eval.envs=1", r"^benchmark\.eval\.envs: .*got 1$"),
        ("benchmark", "benchmark.agents.0.seeds=[-1]", r"^benchmark\.agents\[0\]\.seeds\[0\]"),
        ("benchmark", "benchmark.agents.0.seeds=[]", r"^benchmark\.agents\[0\]\.seeds: "),
        ("benchmark", "benchmark.optimal=sometimes", r"^benchmark\.optimal: must be true"),
        (
            "benchmark",
            "benchmark.baselines=[{policy: s_S, transfer: rebalance}]",
            r"^benchmark\.baselines\[0\]: expected a policy name or .*got keys",
        ),
        ("bench_env", "mode=fast", r"^mode: must be one of \['single', 'sweep', 'dynaplex'\]"),
    ],
)
def test_evaluate_and_benchmark_parameters(name, override, message):
    schema = {
        "evaluate": EvaluateConfig,
        "benchmark": BenchmarkConfig,
        "bench_env": BenchEnvConfig,
    }[name]
    extra = ["experiment=smoke"] if name == "benchmark" else []
    with pytest.raises(ConfigError, match=message):
        check(schema, _compose(name, *extra, override))


def _cli(module: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize(
    "module, args, named",
    [
        # A value: checked before the whole simulation (was a ZeroDivisionError after it).
        ("experiments.evaluate", ["eval.envs=0"], "eval.envs"),
        # Hydra's own errors: an unknown key, a bad override, an unknown config option.
        ("experiments.train", ["train.num_envz=3"], "train.num_envz"),
        pytest.param(
            "experiments.evaluate", ["eval.seed=[1"], "eval.seed=[1", marks=pytest.mark.slow
        ),
        pytest.param(
            "experiments.bench_env",
            ["env=no_such_preset"],
            "no_such_preset",
            marks=pytest.mark.slow,
        ),
    ],
)
def test_bad_input_prints_one_line_and_exits_2(tmp_path, module, args, named):
    out = _cli(module, *args, f"hydra.run.dir={tmp_path}")
    assert out.returncode == 2, out.stderr[-2000:]
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and named in lines[0], lines


def test_multirun_records_a_failed_jobs_error_and_keeps_the_others(tmp_path):
    out = _cli(
        "experiments.evaluate",
        "-m",
        "eval.envs=4,0",
        "eval.periods=60",
        "eval.warmup=10",
        f"hydra.sweep.dir={tmp_path}",
    )
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[-1].startswith("error: eval.envs")
    good = json.loads((tmp_path / "0" / "results.json").read_text())
    assert good["envs"] == 4
    error = json.loads((tmp_path / "1" / "error.json").read_text())
    assert "eval.envs" in error["error"]
    assert not (tmp_path / "1" / "results.json").exists()


def test_yaml_syntax_error_in_a_preset_names_file_and_line(tmp_path):
    conf = tmp_path / "conf" / "env"
    conf.mkdir(parents=True)
    (conf / "broken.yaml").write_text("defaults:\n  - _schema\nnetwork:\n  nodes: [a: b: c\n")
    out = _cli(
        "experiments.evaluate",
        "--config-dir",
        str(tmp_path / "conf"),
        "env=broken",
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: YAML syntax error:"), lines
    assert "broken.yaml" in lines[0] and "line 4" in lines[0]
