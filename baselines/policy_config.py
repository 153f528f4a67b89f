"""Typed policy configs (``conf/policy/*.yaml``), registered in Hydra's ConfigStore.

A policy config is the policy's ``_target_`` and constructor parameters plus two declared
fields that say how to use it, which ``baselines.registry.make_policy`` reads and never
passes to the constructor:

- ``tune``: search the parameters by simulation (``baselines.tuning``) before use;
- ``transfers``: ``null`` or a transfer-rule config, selected the Hydra way with
  ``+policy/transfers=rebalance`` (``conf/policy/transfers/``).

Each ``conf/policy/<name>.yaml`` lists ``<name>_schema`` first in its defaults, so Hydra
rejects a misspelt parameter (``policy.levles=[3]``) or a wrong type when it composes.
A parameter left ``null`` is computed (``baselines.parameters``); a given one is a list
with one value per ordering node or a scalar for all of them, which OmegaConf cannot type
as one union, so the parameters are ``Any`` and ``NodePolicy`` checks their values.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

__all__ = ["PolicyConfig", "RebalanceConfig", "usage_fields"]


@dataclass
class PolicyConfig:
    """What every baseline policy config holds."""

    _target_: str = MISSING
    tune: bool = False
    """Search the parameters by simulation first (``policy.tune=true``)."""
    transfers: Any = None
    """A transfer-rule config (``+policy/transfers=rebalance``, typed by
    ``RebalanceConfig``) or None; ``Any`` since OmegaConf cannot type "None or one of the
    rule configs"."""


def usage_fields() -> set[str]:
    """The fields of a policy config that say how to use the policy (``tune``,
    ``transfers``), as declared by ``PolicyConfig``; the others go to its constructor."""
    return {f.name for f in fields(PolicyConfig)} - {"_target_"}


@dataclass
class BaseStockConfig(PolicyConfig):
    levels: Any = None


@dataclass
class CappedBaseStockConfig(PolicyConfig):
    levels: Any = None
    caps: Any = None


@dataclass
class ConstantOrderConfig(PolicyConfig):
    quantities: Any = None


@dataclass
class EchelonBaseStockConfig(PolicyConfig):
    levels: Any = None


@dataclass
class SSConfig(PolicyConfig):
    reorder_points: Any = None
    order_up_to_levels: Any = None


@dataclass
class RQConfig(PolicyConfig):
    reorder_points: Any = None
    quantities: Any = None


@dataclass
class OptimalConfig(PolicyConfig):
    tol: float = MISSING
    max_inventory_position: int | None = None


@dataclass
class TrainedAgentConfig:
    """``policy=agent``: a trained agent from its run directory (``agents.runs``)."""

    run: str = MISSING
    checkpoint: str = MISSING
    """``best`` | ``final`` | ``last`` | a timestep."""


@dataclass
class RebalanceConfig:
    """``conf/policy/transfers/rebalance.yaml``: ``baselines.transfers.Rebalance``."""

    _target_: str = MISSING
    low_days: float = MISSING
    high_days: float = MISSING


@dataclass
class NoTransfersConfig:
    _target_: str = MISSING


_store = ConfigStore.instance()
for _name, _node in {
    "base_stock": BaseStockConfig,
    "capped_base_stock": CappedBaseStockConfig,
    "constant": ConstantOrderConfig,
    "echelon_base_stock": EchelonBaseStockConfig,
    "myopic": PolicyConfig,
    "oracle": PolicyConfig,
    "optimal": OptimalConfig,
    "r_Q": RQConfig,
    "s_S": SSConfig,
    "agent": TrainedAgentConfig,
}.items():
    _store.store(group="policy", name=f"{_name}_schema", node=_node)
_store.store(group="policy/transfers", name="rebalance_schema", node=RebalanceConfig)
_store.store(group="policy/transfers", name="none_schema", node=NoTransfersConfig)
