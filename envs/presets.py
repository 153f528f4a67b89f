"""Presets: Hydra configs in conf/env/, usable with or without Hydra.

Each preset is a YAML file ``conf/env/<name>.yaml`` typed by ``EnvConfig`` (registered in
Hydra's ConfigStore as ``env/_schema``). Outside a Hydra app, ``load_env_config`` composes
one with overrides, and the registered Gymnasium ids build envs from them:

    gymnasium.make("invnet/LostSales-v0", overrides=["env.penalty=19"])
    gymnasium.make_vec("invnet/Network-v0", num_envs=1024, vectorization_mode="vector_entry_point")
    gymnasium.make("invnet/Custom-v0", preset="hub6", config_dir="mycfg")  # one's own preset
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig

from envs.designs import design_config
from envs.hub_and_spoke import hub_and_spoke_config
from envs.network import Network, build_network
from envs.schema import ConfigError, validate_network

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"

# Registered Gymnasium id (invnet/<Id>-v0) -> preset file name in conf/env/.
PRESETS = {
    "LostSales": "lost_sales",
    "Backlog": "backlog",
    "Serial": "serial",
    "OWMR": "owmr",
    "OWMRTransship": "owmr_transship",
    "Network": "network",
    "Custom": "custom",
    "HubAndSpoke": "hub_and_spoke",
    "Design": "design",
}


@dataclass
class EnvConfig:
    """An environment: a network plus the front end's episode and action settings."""

    name: str = "???"
    episode_length: int = 200
    """Periods per episode; the end of an episode is a truncation."""
    action_mode: str = "order_up_to"
    """``order_up_to`` | ``quantity`` | ``discrete`` | ``raw`` (see envs.actions)."""
    network: Any = field(default_factory=dict)
    """The network (``envs.schema.NetworkSpec``); validated by pydantic, not by Hydra, so
    that defaults and unknown keys are handled in one place."""
    edge_list: str | None = None
    """A YAML edge list (path relative to conf/ or absolute) that replaces ``network``."""
    # Preset knobs that the network interpolates (``${env.penalty}``); None where unused.
    demand_mean: Any = None
    holding_cost: Any = None
    penalty: Any = None
    lead_time: Any = None
    fixed_cost: Any = None
    unmet: Any = None
    transfer_cost: Any = None
    generator: str | None = None
    """A network generator that replaces ``network``: ``hub_and_spoke`` (envs.hub_and_spoke)
    or ``design`` (envs.designs)."""
    regions: Any = None
    stores_per_region: Any = None
    design: Any = None
    """``design`` generator: centralised | regional | hub_and_spoke | micro_fulfilment |
    drop_ship."""
    zones: Any = None
    """``design`` generator: the number of customer zones."""
    outage: Any = None
    """``design`` generator: a scheduled outage ``{node, start, end}`` (or null)."""
    fallback: Any = None
    """``design`` generator: whether zones have their alternative fulfilment lanes."""
    transfers: Any = None
    """``design`` generator: whether neighbouring regional DCs have transfer lanes."""
    skus: Any = None
    """``design`` generator: whether the zones buy the six SKUs of ``ASSORTMENT``."""
    placement: Any = None
    """``design`` generator: where the SKUs are held: distributed | centralised | segmented."""
    dc_storage: Any = None
    """``design`` generator: each regional DC's storage, volume units shared by the SKUs."""


ConfigStore.instance().store(group="env", name="_schema", node=EnvConfig)


def load_env_config(
    preset: str, overrides: list[str] | None = None, config_dir: str | Path | None = None
) -> DictConfig:
    """Compose ``conf/env/<preset>.yaml`` with Hydra overrides (e.g. ``env.penalty=19``).

    ``config_dir``: a directory of one's own configs searched too (``<dir>/env/<preset>.yaml``,
    which may build on invnet's presets through its defaults list), as ``--config-dir``
    does for the entry points.
    """
    dirs = [CONF_DIR] + ([Path(config_dir).resolve()] if config_dir else [])
    if not any((d / "env" / f"{preset}.yaml").exists() for d in dirs):
        known = sorted({p.stem for d in dirs for p in (d / "env").glob("*.yaml")})
        raise ValueError(f"env: unknown preset {preset!r}; known presets: {known}")
    args = [f"env={preset}", *(overrides or [])]
    if config_dir:
        args.append(f"hydra.searchpath=[file://{dirs[1]}]")
    if GlobalHydra.instance().is_initialized():
        cfg = compose(config_name="preset", overrides=args)
    else:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose(config_name="preset", overrides=args)
    return cfg.env


def network_config(env_cfg: Any) -> Any:
    """The network config of an env config: its ``network``, its ``edge_list`` file, or
    the network its ``generator`` builds."""
    if env_cfg.get("edge_list"):
        return read_edge_list(env_cfg["edge_list"])
    generator = env_cfg.get("generator")
    if generator is not None and env_cfg.get("network"):
        # A generated network has no ``network`` to override: say so, never ignore it.
        raise ValueError(
            f"env.network: set, but env.generator={generator} builds the network; change "
            f"the generator's own keys (env.regions, ...) instead, got {dict(env_cfg['network'])!r}"
        )
    if generator == "hub_and_spoke":
        knobs = ("demand_mean", "holding_cost", "penalty", "transfer_cost")
        return hub_and_spoke_config(
            env_cfg.get("regions"),
            env_cfg.get("stores_per_region"),
            **{k: float(env_cfg[k]) for k in knobs if env_cfg.get(k) is not None},
        )
    if generator == "design":
        outage = env_cfg.get("outage")
        return design_config(
            env_cfg.get("design"),
            env_cfg.get("zones"),
            env_cfg.get("regions"),
            **{
                k: float(env_cfg[k])
                for k in ("demand_mean", "penalty")
                if env_cfg.get(k) is not None
            },
            outage=None if outage is None else dict(outage),
            fallback=_switch(env_cfg, "fallback", True),
            transfers=_switch(env_cfg, "transfers", False),
            skus=_switch(env_cfg, "skus", False),
            placement=env_cfg.get("placement") or "distributed",
            dc_storage=_storage(env_cfg.get("dc_storage")),
        )
    if generator is not None:
        raise ValueError(
            f"env.generator: unknown {generator!r}; known: ['hub_and_spoke', 'design']"
        )
    return env_cfg["network"]


def _storage(value: Any) -> float:
    """``env.dc_storage``: a whole number of volume units > 0, or null (unlimited)."""
    if value is None:
        return math.inf
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ValueError(f"env.dc_storage: must be a number > 0 or null, got {value!r}")
    if math.isfinite(value) and not float(value).is_integer():
        raise ValueError(f"env.dc_storage: must be a whole number of units, got {value!r}")
    return float(value)


def _switch(env_cfg: Any, key: str, default: bool) -> bool:
    """A true/false knob of a generator (null: ``default``); anything else is an error."""
    value = env_cfg.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise ValueError(f"env.{key}: must be true or false, got {value!r}")
    return value


def make_network(env_cfg: Any) -> Network:
    """Build and validate the network of an env config; errors name ``env.network.<path>``
    (or the edge-list file and its ``nodes.<name>`` / ``edges[j]``)."""
    if env_cfg.get("edge_list"):  # errors name the file and its entries
        prefix = ""
    elif env_cfg.get("generator") is not None:  # e.g. hub_and_spoke: a generated network
        prefix = f"env.{env_cfg['generator']}"
    else:
        prefix = "env.network"
    return build_network(network_config(env_cfg), prefix=prefix)


def read_edge_list(path: str) -> dict:
    """Read and validate a network from a YAML edge list.

    Format::

        nodes:
          factory: {kind: supplier}
          store: {holding_cost: 1, demand: {dist: poisson, mean: 4}, unmet: lost, penalty: 9}
        edges:
          - [factory, store, {lead_time: 2, unit_cost: 1}]
          - [store, other_store, {kind: transfer, lead_time: 0}]
        rationing: proportional   # optional, like every other network key

    Returns:
        The network as a plain dict (``nodes`` list, ``lanes`` list, other keys as given).

    Raises:
        ConfigError: one line naming the file and the key (``nodes.store.holdng_cost``,
            ``edges[1].lead_tme``) or, for a YAML syntax error, the file, line and column.
    """
    file = Path(path)
    if not file.is_absolute():
        file = CONF_DIR / file
    where = f"env.edge_list: {str(file)!r}"
    if not file.is_file():
        raise ConfigError(f"{where}: file not found")
    try:
        data = yaml.safe_load(file.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f" line {mark.line + 1} column {mark.column + 1}" if mark else ""
        problem = " ".join(str(getattr(err, "problem", None) or err).split())
        raise ConfigError(f"{where}:{at}: YAML syntax error: {problem}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping with 'nodes' and 'edges', got {data!r}")
    if not isinstance(data.get("nodes"), dict) or not isinstance(data.get("edges"), list):
        raise ConfigError(f"{where}: needs a 'nodes' mapping and an 'edges' list")
    names = list(data["nodes"])
    nodes = []
    for name, attrs in data["nodes"].items():
        if attrs is not None and not isinstance(attrs, dict):
            raise ConfigError(f"{where}: nodes.{name}: expected a mapping, got {attrs!r}")
        nodes.append({"name": name, **(attrs or {})})
    lanes = []
    for j, edge in enumerate(data["edges"]):
        if (
            not isinstance(edge, list)
            or len(edge) not in (2, 3)
            or (len(edge) == 3 and not isinstance(edge[2], dict))
        ):
            raise ConfigError(
                f"{where}: edges[{j}] must be [source, destination, {{attributes}}], got {edge!r}"
            )
        lanes.append(
            {"source": edge[0], "destination": edge[1], **(edge[2] if len(edge) == 3 else {})}
        )
    extra = {k: v for k, v in data.items() if k not in ("nodes", "edges")}
    network = {"nodes": nodes, "lanes": lanes, **extra}
    try:
        validate_network(network)
    except ConfigError as err:
        raise ConfigError(f"{where}: {_edge_list_path(str(err), names)}") from None
    return network


def _edge_list_path(message: str, names: list) -> str:
    """``nodes[i]...`` / ``lanes[j]...`` of the validated dict as the edge list's own
    ``nodes.<name>...`` / ``edges[j]...``."""
    match = re.match(r"nodes\[(\d+)\]", message)
    if match and int(match.group(1)) < len(names):
        return f"nodes.{names[int(match.group(1))]}{message[match.end() :]}"
    return re.sub(r"^lanes\[", "edges[", message)


def preset_episode_length(preset: str) -> int:
    """The episode length a preset file sets (the registered ids' ``max_episode_steps``)."""
    data = yaml.safe_load((CONF_DIR / "env" / f"{preset}.yaml").read_text()) or {}
    return int(data.get("episode_length", EnvConfig.episode_length))


def _env_kwargs(
    preset: str,
    overrides: list[str] | None,
    config_dir: str | Path | None = None,
    max_episode_steps: int | None = None,
    **kwargs,
) -> tuple[Network, dict]:
    cfg = load_env_config(preset, overrides, config_dir)
    # The ids are registered with max_episode_steps=None among their kwargs, so Gymnasium's
    # make_vec passes one only when the caller gives it: then it is the episode length.
    if max_episode_steps is not None:
        length = kwargs.get("episode_length", max_episode_steps)
        if int(length) != int(max_episode_steps):
            raise ValueError(
                f"max_episode_steps: {max_episode_steps!r} conflicts with episode_length {length!r}"
            )
        kwargs["episode_length"] = int(max_episode_steps)
    settings = {
        "episode_length": kwargs.pop("episode_length", cfg.episode_length),
        "action_mode": kwargs.pop("action_mode", cfg.action_mode),
        **kwargs,
    }
    return make_network(cfg), settings


def make_env(preset: str, overrides: list[str] | None = None, **kwargs):
    """Single ``InventoryNetworkEnv`` of a preset (the registered ``entry_point``)."""
    from envs.inventory_env import InventoryNetworkEnv

    net, settings = _env_kwargs(preset, overrides, **kwargs)
    return InventoryNetworkEnv(net, **settings)


def make_vec_env(preset: str, num_envs: int = 8, overrides: list[str] | None = None, **kwargs):
    """``InventoryNetworkVecEnv`` of a preset (the registered ``vector_entry_point``)."""
    from envs.inventory_env import InventoryNetworkVecEnv

    net, settings = _env_kwargs(preset, overrides, **kwargs)
    return InventoryNetworkVecEnv(net, num_envs=num_envs, **settings)


def make_sb3_vec_env(preset: str, num_envs: int = 8, overrides: list[str] | None = None, **kwargs):
    """``InventoryNetworkSB3VecEnv`` of a preset, for stable-baselines3."""
    from envs.sb3 import InventoryNetworkSB3VecEnv

    net, settings = _env_kwargs(preset, overrides, **kwargs)
    return InventoryNetworkSB3VecEnv(net, num_envs=num_envs, **settings)


def make_tianshou_vec_env(
    preset: str, num_envs: int = 8, overrides: list[str] | None = None, **kwargs
):
    """``InventoryNetworkTianshouEnv`` of a preset, for Tianshou's ``Collector``."""
    from envs.tianshou_env import InventoryNetworkTianshouEnv

    net, settings = _env_kwargs(preset, overrides, **kwargs)
    return InventoryNetworkTianshouEnv(net, num_envs=num_envs, **settings)
