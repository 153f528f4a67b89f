"""Build a classical policy from its config, computing or tuning its parameters first.

    policy, params = make_policy(cfg.policy, net, tune=True, seed=0)

``policy_cfg`` is a ``conf/policy/<name>.yaml`` config (composed by Hydra, or a plain
dict) or a name (``"base_stock"``), composed by ``policy_config`` the way an entry point
composes it, with a transfer rule as ``+policy/transfers=<rule>`` when one is asked for.
A policy config is typed (``baselines.policy_config``): the policy's ``_target_`` and
parameters (``null``: computed), and the fields that say how to use it, ``tune`` (search
the parameters by simulation, ``baselines.tuning``) and ``transfers`` (a transfer-rule
config of ``conf/policy/transfers/``, or null).

Parameters left ``null`` are computed (``baselines.parameters.computed_parameters``): exact
where theory applies, else the newsvendor-style start of the search. With tuning, the
search starts from the given parameters or the computed ones; exact parameters are kept
(no simulation can improve on them). The policy is built with ``hydra.utils.instantiate``
(``net`` passed as keyword).

The returned ``params`` is a plain JSON-ready dict: ``policy`` (the class), ``nodes`` (the
ordering nodes the vectors refer to), the parameter vectors, ``source`` (how they were
obtained) and, when tuned, ``tuning`` (search cost, fresh-noise cost and 95% CI, seconds,
evaluations).
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Mapping
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import MissingConfigException
from hydra.utils import get_object, instantiate
from omegaconf import DictConfig, OmegaConf

from baselines.parameters import computed_parameters
from baselines.policies import NodePolicy
from baselines.policy_config import usage_fields
from baselines.transfers import NoTransfers, WithTransfers
from baselines.tuning import TuneBudget, tune_policy
from envs.network import Network
from envs.presets import CONF_DIR

__all__ = ["POLICY_DIR", "make_policy", "policy_config", "policy_names", "transfer_rule_names"]

POLICY_DIR = CONF_DIR / "policy"


TRAINED_AGENT = "agent"
"""``conf/policy/agent.yaml``: a trained agent from its run directory (``agents.runs``),
evaluated by ``experiments.evaluate policy=agent``; not built from a network here."""


def policy_names() -> list[str]:
    """Names of the baseline policy configs (``conf/policy/*.yaml`` but ``agent``)."""
    return sorted(p.stem for p in POLICY_DIR.glob("*.yaml") if p.stem != TRAINED_AGENT)


def transfer_rule_names() -> list[str]:
    """Names of the transfer-rule configs (``conf/policy/transfers/*.yaml``)."""
    return sorted(p.stem for p in (POLICY_DIR / "transfers").glob("*.yaml"))


def policy_config(name: str, transfers: str | None = None) -> DictConfig:
    """``conf/policy/<name>.yaml`` composed by Hydra against its schema, with the transfer
    rule ``conf/policy/transfers/<transfers>.yaml`` (``+policy/transfers=<transfers>``).

    Inside a Hydra app the app's search path is used (a ``--config-dir`` of one's own
    policies included); elsewhere invnet's ``conf/``.
    """
    overrides = [f"policy={name}"] + ([f"+policy/transfers={transfers}"] if transfers else [])
    try:
        if GlobalHydra.instance().is_initialized():
            return compose(config_name="policy_alone", overrides=overrides).policy
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            return compose(config_name="policy_alone", overrides=overrides).policy
    except MissingConfigException:
        if not (POLICY_DIR / f"{name}.yaml").is_file():
            raise ValueError(f"policy: unknown policy {name!r}; known: {policy_names()}") from None
        raise ValueError(
            f"policy.transfers: unknown transfer rule {transfers!r}; known: {transfer_rule_names()}"
        ) from None


def _budget(tune: Any, seed: int) -> tuple[bool, TuneBudget, int]:
    if isinstance(tune, Mapping | DictConfig):
        values = dict(OmegaConf.to_container(tune) if isinstance(tune, DictConfig) else tune)
        seed = int(values.get("seed", seed))
        return bool(values.pop("enabled", True)), TuneBudget.from_mapping(values), seed
    return bool(tune), TuneBudget(), seed


def make_policy(
    policy_cfg: Any,
    net: Network,
    *,
    tune: bool | Mapping | None = None,
    seed: int = 0,
) -> tuple[Any, dict]:
    """Build the policy of ``policy_cfg`` on ``net``; return it and its parameters.

    Args:
        policy_cfg: a policy config (``conf/policy/<name>.yaml``: DictConfig or dict) or a
            name (``"s_S"``).
        net: the network it acts on.
        tune: search the parameters by simulation first. None: the config's ``tune``. A
            mapping means True with that budget (``TuneBudget`` fields: envs, periods,
            warmup, ..., plus ``seed``, which overrides ``seed``).
        seed: seed of the tuning noise (common random numbers for every candidate); the
            winner is re-evaluated on ``seed + 1``. Evaluate on yet another seed.

    Returns:
        ``(policy, params)``: a batched policy (``act(state) -> [B, E]``) and a plain dict
        of its parameters (see module docstring).

    Raises:
        ValueError: unknown policy or rule names, bad parameters (naming them), a policy
            that does not apply to ``net`` (echelon base-stock off a serial network,
            value iteration off a single node).
    """
    t0 = time.perf_counter()
    if isinstance(policy_cfg, str):
        policy_cfg = policy_config(policy_cfg)
    cfg = (
        OmegaConf.to_container(policy_cfg, resolve=True)
        if isinstance(policy_cfg, DictConfig)
        else dict(policy_cfg)
    )
    if "_target_" not in cfg:
        raise ValueError(f"policy: a policy config needs a _target_, got keys {sorted(cfg)}")
    usage = {name: cfg.pop(name, None) for name in usage_fields()}
    wanted = (usage["tune"] or False) if tune is None else tune
    rule_cfg = usage["transfers"]
    if rule_cfg is not None and not isinstance(rule_cfg, Mapping):
        raise ValueError(
            f"policy.transfers: expected a transfer-rule config, got {rule_cfg!r}; select one "
            f"with +policy/transfers=<rule> (known: {transfer_rule_names()})"
        )
    do_tune, budget, seed = _budget(wanted, seed)

    rule = _build(rule_cfg, net) if rule_cfg is not None else None
    if isinstance(rule, NoTransfers):
        rule = None
    target = get_object(cfg["_target_"])
    params: dict[str, Any] = {"policy": getattr(target, "__name__", str(target))}
    if inspect.isclass(target) and issubclass(target, NodePolicy) and target.PARAMS:
        start = {name: cfg.get(name) for name in target.PARAMS}
        if do_tune:
            result = tune_policy(target, net, start=start, rule=rule, budget=budget, seed=seed)
            cfg.update({name: value.tolist() for name, value in result.params.items()})
            if result.transfers:
                thresholds = {k: result.transfers[k] for k in ("low_days", "high_days")}
                rule = _build({**rule_cfg, **thresholds}, net)
            params["source"] = result.method
            params["tuning"] = result.summary()
        else:
            missing = [name for name, value in start.items() if value is None]
            params["source"] = "given"
            if missing:
                computed = computed_parameters(target, net)
                cfg.update({name: computed.params[name].tolist() for name in missing})
                params["source"] = computed.method
    elif do_tune:
        params["source"] = "nothing to tune"
    policy = _build(cfg, net)
    if rule is not None:
        policy = WithTransfers(policy, rule)
    params.update(policy.describe())
    params["seconds"] = round(time.perf_counter() - t0, 3)
    return policy, params


def _build(cfg: Any, net: Network) -> Any:
    """``hydra.utils.instantiate`` the config with ``net`` passed at call time (as a partial:
    Hydra would turn a dataclass keyword into a config)."""
    return instantiate(cfg, _partial_=True, _convert_="all")(net=net)
