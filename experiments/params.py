"""Typed parameters of the entry points, checked at the start of each ``main`` before any
work, so that a bad value is one line naming the option (``train.eval.envs: ...``), not a
ZeroDivisionError after the whole simulation.

Only the options the entry points read are modelled; other keys are left to their own
code (Hydra's struct mode already rejects keys a config does not have, and the network is
checked by ``envs.schema``; ``tune`` budgets by ``baselines.tuning.TuneBudget``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from envs.schema import StrictModel, field_error, parse, plain, whole_number

MAX_SEED = 2**32 - 1
"""numpy's and torch's global seeding (SB3 ``set_random_seed``) take seeds below 2**32."""

Count = Annotated[int, BeforeValidator(whole_number), Field(ge=1)]
"""A whole number >= 1 (``1e6`` on the command line is read as 1000000)."""
NonNegative = Annotated[int, BeforeValidator(whole_number), Field(ge=0)]
Replications = Annotated[int, BeforeValidator(whole_number), Field(ge=2)]
"""At least 2 replications, for a confidence interval."""
Seed = Annotated[int, BeforeValidator(whole_number), Field(ge=0, le=MAX_SEED)]
Flag = bool | Literal["auto"]


class Section(StrictModel):
    """A config section: the keys modelled here are checked, others pass unchecked."""

    model_config = ConfigDict(extra="allow", strict=True, allow_inf_nan=False, frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        return data


class EvalNoise(Section):
    """Common-random-number evaluation: ``envs`` replications x ``periods`` periods, the
    first ``warmup`` left out, noise ``seed``."""

    envs: Replications
    periods: Count
    warmup: NonNegative
    seed: Seed

    @model_validator(mode="after")
    def _warmup_inside(self) -> EvalNoise:
        if self.warmup >= self.periods:
            raise field_error("warmup", f"{self.warmup} must be less than periods={self.periods}")
        return self


class TuneBudgetParams(Section):
    """A simulation-search budget (``baselines.tuning.TuneBudget``, which also checks
    unknown keys and warm-ups); unset keys take that class's defaults."""

    envs: Replications | None = None
    periods: Count | None = None
    warmup: NonNegative | None = None
    batch_envs: Count | None = None
    eval_envs: Replications | None = None
    eval_periods: Count | None = None
    eval_warmup: NonNegative | None = None
    max_iterations: Count | None = None
    progress: bool | None = None
    seed: Seed = 0


class TrainParams(Section):
    """``train`` of ``experiments.train`` (``benchmark.train`` is merged into it)."""

    total_timesteps: Count
    num_envs: Count | None = None
    eval_every: Count
    checkpoint_every: Count
    resume: str | None = None
    progress_bar: Flag = "auto"
    torch_threads: Count | None = None
    eval: EvalNoise
    final_eval: EvalNoise | None = None
    baselines: list[str] = []
    optimal: Flag = "auto"
    tune: TuneBudgetParams | None = None


class ModelParams(Section):
    """The SB3 hyperparameters checked here (the others go to SB3 as given)."""

    learning_rate: Annotated[float, Field(gt=0)] | None = None
    gamma: Annotated[float, Field(gt=0, le=1)] | None = None


class AgentParams(Section):
    name: str
    num_envs: Count | None = None
    model: ModelParams | None = None


class TrainConfig(Section):
    """What ``experiments.train`` and ``experiments.bench_train`` read."""

    seed: Seed
    train: TrainParams
    agent: AgentParams


class EvaluateConfig(Section):
    """What ``experiments.evaluate`` reads."""

    eval: EvalNoise
    tune: TuneBudgetParams


class AgentRun(StrictModel):
    """One agent of a benchmark, trained with each of its seeds."""

    name: str | None = None
    agent: str
    seeds: Annotated[list[Seed], Field(min_length=1)]
    overrides: list[str] = []


class Scenario(StrictModel):
    """One benchmark scenario: an env preset with overrides."""

    name: str
    env: str
    overrides: list[str] = []
    baselines: list[str] | None = None


class BenchmarkParams(Section):
    name: str
    scenarios: Annotated[list[Scenario], Field(min_length=1)]
    baselines: list[str]
    optimal: Flag = "auto"
    agents: list[AgentRun] = []
    train: dict[str, Any] = {}
    tune: TuneBudgetParams = TuneBudgetParams()
    eval: EvalNoise


class BenchmarkConfig(Section):
    """What ``experiments.benchmark`` reads (each agent's train config is then composed
    and checked as a ``TrainConfig``)."""

    seed: Seed | None = None
    """The agents' training seed; None: each agent's own ``seeds``."""
    benchmark: BenchmarkParams


class BenchEnvConfig(Section):
    """What ``experiments.bench_env`` reads."""

    mode: Literal["single", "sweep", "dynaplex"] = "single"
    backend: Literal["numba", "numpy"] = "numba"
    num_envs: Count
    action_mode: str
    steps: Count
    repeats: Count
    warmup_steps: NonNegative
    loop_envs: Count
    loop_steps: Count
    memory_env_steps: Count
    seed: Seed


def check(model: type[BaseModel], cfg: Any) -> Any:
    """``cfg`` validated by ``model``; a bad value raises a one-line ``ConfigError``."""
    return parse(model, plain(cfg))
