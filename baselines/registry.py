"""Build a classical policy from its config, computing or tuning its parameters first.

    policy, params = make_policy(cfg.policy, net, tune=True, seed=0)

``policy_cfg`` is a ``conf/policy/<name>.yaml`` config (composed by Hydra, loaded with
OmegaConf, or a plain dict), or a name: ``"base_stock"``, or ``"base_stock+rebalance"`` (a
replenishment policy plus a transfer rule of ``conf/policy/transfers/``). The config holds
the policy's ``_target_`` and parameters (``null``: computed), and the reserved keys

- ``tune``: search the parameters by simulation (``baselines.tuning``) before use;
- ``transfers``: ``null``, a transfer-rule config (``_target_: baselines.transfers...``) or
  the name of one in ``conf/policy/transfers/`` (``rebalance``, ``none``).

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
from pathlib import Path
from typing import Any

from hydra.utils import get_object, instantiate
from omegaconf import DictConfig, OmegaConf

from baselines.parameters import computed_parameters
from baselines.policies import NodePolicy
from baselines.transfers import NoTransfers, WithTransfers
from baselines.tuning import TuneBudget, tune_policy
from envs.network import Network

__all__ = ["POLICY_DIR", "make_policy", "policy_config", "policy_names"]

POLICY_DIR = Path(__file__).resolve().parent.parent / "conf" / "policy"


TRAINED_AGENT = "agent"
"""``conf/policy/agent.yaml``: a trained agent from its run directory (``agents.runs``),
evaluated by ``experiments.evaluate policy=agent``; not built from a network here."""


def policy_names() -> list[str]:
    """Names of the baseline policy configs (``conf/policy/*.yaml`` but ``agent``)."""
    return sorted(p.stem for p in POLICY_DIR.glob("*.yaml") if p.stem != TRAINED_AGENT)


def policy_config(name: str) -> DictConfig:
    """``conf/policy/<name>.yaml``; ``a+b`` adds transfer rule ``conf/policy/transfers/b``."""
    base, _, rule = str(name).partition("+")
    file = POLICY_DIR / f"{base}.yaml"
    if not file.is_file():
        raise ValueError(f"policy: unknown policy {base!r}; known: {policy_names()}")
    cfg = OmegaConf.load(file)
    if rule:
        cfg.transfers = rule
    return cfg


def _transfer_config(value: Any) -> Any:
    if value is None or isinstance(value, Mapping | DictConfig):
        return value
    file = POLICY_DIR / "transfers" / f"{value}.yaml"
    if not file.is_file():
        known = sorted(p.stem for p in (POLICY_DIR / "transfers").glob("*.yaml"))
        raise ValueError(f"policy.transfers: unknown transfer rule {value!r}; known: {known}")
    return OmegaConf.load(file)


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
            name (``"s_S"``, ``"base_stock+rebalance"``).
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
    cfg.pop("defaults", None)
    if "_target_" not in cfg:
        raise ValueError(f"policy: a policy config needs a _target_, got keys {sorted(cfg)}")
    wanted = cfg.pop("tune", False) if tune is None else tune
    cfg.pop("tune", None)
    cfg.pop("name", None)
    rule_cfg = _transfer_config(cfg.pop("transfers", None))
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
