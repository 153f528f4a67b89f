"""invnet's simulator: network spec, demand and lead times, the batched transition and its
Gymnasium / SB3 front ends. Importing it registers ``invnet/<Preset>-v0`` ids."""

import gymnasium

from envs.inventory_env import InventoryNetworkEnv, InventoryNetworkVecEnv
from envs.network import Network, NetworkConfig, build_network
from envs.noise import Noise, NoiseStream
from envs.presets import PRESETS, load_env_config, make_network, preset_episode_length
from envs.sb3 import InventoryNetworkSB3VecEnv
from envs.simulator import Simulator
from envs.transition import Costs, Flows, State, initial_state, transition

for _id, _preset in PRESETS.items():
    if f"invnet/{_id}-v0" not in gymnasium.registry:
        gymnasium.register(
            id=f"invnet/{_id}-v0",
            entry_point="envs.presets:make_env",
            vector_entry_point="envs.presets:make_vec_env",
            # max_episode_steps among the kwargs keeps make_vec from passing the spec's
            # value to the vector entry point (the preset, with its overrides, decides).
            kwargs={"preset": _preset, "max_episode_steps": None},
            max_episode_steps=preset_episode_length(_preset),
        )

__all__ = [
    "Costs",
    "Flows",
    "InventoryNetworkEnv",
    "InventoryNetworkSB3VecEnv",
    "InventoryNetworkVecEnv",
    "Network",
    "NetworkConfig",
    "Noise",
    "NoiseStream",
    "PRESETS",
    "Simulator",
    "State",
    "build_network",
    "initial_state",
    "load_env_config",
    "make_network",
    "transition",
]
