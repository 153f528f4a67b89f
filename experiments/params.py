"""Typed configs of the entry points, registered in Hydra's ConfigStore.

Each config is a dataclass stored as a schema node: ``evaluate_schema``, ``train_schema``,
``benchmark_schema`` and ``bench_env_schema`` for the primary configs, ``agent/_schema``
for the agent group (``env/_schema`` is ``envs.presets.EnvConfig``). The YAML files list
their schema first in ``defaults``, so Hydra itself rejects an unknown key or a value of
the wrong type when it composes the config, with a message naming the key (one line and
exit 2 through ``experiments.job.run_main``).

The semantic checks (ranges, a warm-up shorter than its run, seeds below 2**32) sit in
the same annotations as pydantic constraints: OmegaConf reads the base type of an
``Annotated`` field, pydantic its constraints. ``check(XConfig, cfg)``, called at the start
of each ``main`` before any work, runs them and reports the first failure as one line
naming the option (``train.eval.envs: ...``). The tuning budget's own checks live in
``baselines.tuning.TuneBudget``, whose fields ``TuneConfig`` extends with the seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetPydanticSchema,
)

import baselines.policy_config  # noqa: F401  (registers the policy schemas)
from baselines.references import Baseline
from baselines.tuning import TuneBudget
from envs.presets import EnvConfig
from envs.schema import field_error, parse, plain, whole_number

MAX_SEED = 2**32 - 1
"""numpy's and torch's global seeding (SB3 ``set_random_seed``) take seeds below 2**32."""

Count = Annotated[int, BeforeValidator(whole_number), Field(ge=1)]
"""A whole number >= 1."""
NonNegative = Annotated[int, BeforeValidator(whole_number), Field(ge=0)]
Replications = Annotated[int, BeforeValidator(whole_number), Field(ge=2)]
"""At least 2 replications, for a confidence interval."""
Seed = Annotated[int, BeforeValidator(whole_number), Field(ge=0, le=MAX_SEED)]


def _one_of(*choices: str) -> AfterValidator:
    def check(value: str) -> str:
        if value not in choices:
            raise ValueError(f"must be one of {list(choices)}")
        return value

    return AfterValidator(check)


def _flag(value: bool | str) -> bool | str:
    if isinstance(value, str) and value != "auto":
        raise ValueError("must be true, false or auto")
    return value


Flag = Annotated[bool | str, AfterValidator(_flag)]
"""``true``, ``false`` or ``auto``."""


@dataclass
class EvalConfig:
    """Common-random-number evaluation: ``envs`` replications x ``periods`` periods, the
    first ``warmup`` left out, noise ``seed`` (``eval``, ``train.eval``,
    ``train.final_eval``, ``benchmark.eval``)."""

    envs: Replications = MISSING
    periods: Count = MISSING
    warmup: NonNegative = MISSING
    seed: Seed = MISSING


def _warmup_inside(ev: EvalConfig) -> EvalConfig:
    if ev.warmup >= ev.periods:
        raise field_error("warmup", f"{ev.warmup} must be less than periods={ev.periods}")
    return ev


Eval = Annotated[EvalConfig, AfterValidator(_warmup_inside)]

BaselineEntry = Annotated[Any, AfterValidator(Baseline.of)]
"""A baseline: a policy name (``s_S``) or ``{policy: base_stock, transfers: rebalance}``
(``baselines.references.Baseline``). ``Any`` for Hydra: OmegaConf cannot type "a string
or a mapping"; ``Baseline.of`` checks it."""


@dataclass
class TuneConfig(TuneBudget):
    """A simulation-search budget (``tune``, ``train.tune``, ``benchmark.tune``): the
    fields and checks of ``baselines.tuning.TuneBudget`` plus the search noise's seed
    (the winner is re-checked on ``seed + 1``)."""

    seed: Seed = 0


@dataclass
class TrainSettings:
    """``train`` of ``experiments.train`` (``benchmark.train`` is merged into it)."""

    total_timesteps: Count = MISSING
    num_envs: Count | None = None
    """None: the agent config's ``num_envs``."""
    eval_every: Count = MISSING
    checkpoint_every: Count = MISSING
    resume: str | None = None
    progress_bar: Flag = "auto"
    torch_threads: Count | None = None
    eval: Eval = MISSING
    final_eval: Eval | None = None
    baselines: list[BaselineEntry] = field(default_factory=list)
    optimal: Flag = "auto"
    tune: TuneConfig | None = None


@dataclass
class NormalizeConfig:
    """``VecNormalize`` settings of an SB3 agent (``agents.factory``)."""

    norm_obs: bool = MISSING
    norm_reward: bool = MISSING
    clip_obs: float = MISSING
    clip_reward: float = MISSING


class ModelParams(BaseModel):
    """The hyperparameters of ``agent.model`` checked here, whatever the agent (the
    others go to the algorithm as given)."""

    model_config = ConfigDict(extra="allow", strict=True, allow_inf_nan=False, frozen=True)

    learning_rate: Annotated[float, Field(gt=0)] | None = None
    gamma: Annotated[float, Field(gt=0, le=1)] | None = None


@dataclass
class AgentConfig:
    """An agent (``conf/agent/<name>.yaml``): the part every agent shares."""

    name: str = MISSING
    action_spaces: list[str] = MISSING
    """``box`` and/or ``multidiscrete``: checked against ``env.action_mode``."""
    num_envs: Count = MISSING
    normalize: NormalizeConfig | None = None
    """SB3 agents only (HDPO trains on costs directly)."""
    action_noise_std: float | None = None
    # The hyperparameters differ per algorithm: an SB3 class's constructor arguments behind
    # its ``_target_`` (checked by SB3 itself) or HDPO's settings (checked by
    # ``agents.hdpo.settings_of``); so ``model`` is untyped for Hydra, and pydantic checks
    # the hyperparameters every agent shares (``ModelParams``).
    model: Annotated[Any, GetPydanticSchema(lambda _, handler: handler(ModelParams))] = MISSING


@dataclass
class TrainConfig:
    """What ``experiments.train`` and ``experiments.bench_train`` read."""

    seed: Seed = MISSING
    """Training seed (model init and the training envs' noise)."""
    train: TrainSettings = field(default_factory=TrainSettings)
    env: EnvConfig = field(default_factory=EnvConfig)
    agent: AgentConfig = field(default_factory=AgentConfig)


@dataclass
class EvaluateConfig:
    """What ``experiments.evaluate`` reads."""

    eval: Eval = MISSING
    tune: TuneConfig = field(default_factory=TuneConfig)
    env: EnvConfig = field(default_factory=EnvConfig)
    policy: Any = MISSING
    """A ``conf/policy/<name>.yaml`` config."""


@dataclass
class AgentRun:
    """One agent of a benchmark, trained with each of its seeds."""

    agent: str = MISSING
    """A ``conf/agent`` option."""
    seeds: Annotated[list[Seed], Field(min_length=1)] = MISSING
    name: str | None = None
    """Its label in the report (None: ``agent``)."""
    overrides: list[str] = field(default_factory=list)


@dataclass
class Scenario:
    """One benchmark scenario: an env preset with overrides."""

    name: str = MISSING
    env: str = MISSING
    overrides: list[str] = field(default_factory=list)
    baselines: list[BaselineEntry] | None = None
    """None: ``benchmark.baselines``."""


@dataclass
class BenchmarkSettings:
    name: str = MISSING
    scenarios: list[Scenario] = field(default_factory=list)
    baselines: list[BaselineEntry] = field(default_factory=list)
    optimal: Flag = "auto"
    agents: list[AgentRun] = field(default_factory=list)
    train: dict[str, Any] = field(default_factory=dict)
    """``train.*`` settings for every agent (see ``TrainSettings``)."""
    tune: TuneConfig = field(default_factory=TuneConfig)
    eval: Eval = MISSING


@dataclass
class BenchmarkConfig:
    """What ``experiments.benchmark`` reads (each agent's train config is then composed
    and checked as a ``TrainConfig``)."""

    seed: Seed | None = None
    """The agents' training seed; None: each agent's own ``seeds``."""
    benchmark: BenchmarkSettings = field(default_factory=BenchmarkSettings)


@dataclass
class SweepConfig:
    """``bench_env mode=sweep``: the throughput curves' points."""

    num_envs: list[int] = MISSING
    sizes: list[list[int]] = MISSING
    """``[regions, stores_per_region]`` of each hub_and_spoke size."""
    size_num_envs: Count = MISSING
    node_steps: Count = MISSING


@dataclass
class BenchEnvConfig:
    """What ``experiments.bench_env`` reads."""

    mode: Annotated[str, _one_of("single", "sweep", "dynaplex")] = "single"
    backend: Annotated[str, _one_of("numba", "numpy")] = "numba"
    sweep: SweepConfig = field(default_factory=SweepConfig)
    dynaplex_num_envs: list[int] = MISSING
    dynaplex_python: str = MISSING
    num_envs: Count = MISSING
    action_mode: str = MISSING
    steps: Count = MISSING
    repeats: Count = MISSING
    warmup_steps: NonNegative = MISSING
    loop_envs: Count = MISSING
    loop_steps: Count = MISSING
    memory_env_steps: Count = MISSING
    seed: Seed = MISSING
    env: EnvConfig = field(default_factory=EnvConfig)


_store = ConfigStore.instance()
_store.store(name="evaluate_schema", node=EvaluateConfig)
_store.store(name="train_schema", node=TrainConfig)
_store.store(name="benchmark_schema", node=BenchmarkConfig)
_store.store(name="bench_env_schema", node=BenchEnvConfig)
_store.store(group="agent", name="_schema", node=AgentConfig)


def check(schema: Any, cfg: Any) -> Any:
    """``cfg`` validated by ``schema``; a bad value raises a one-line ``ConfigError``."""
    return parse(schema, plain(cfg))
