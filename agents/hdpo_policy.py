"""Policy networks for HDPO and their batched ``Policy`` wrapper.

A network maps the decision-time state of B envs to an action in [-1, 1]^E, the same action
the env's parametrisation reads (``envs.actions.ActionMap``): on replenishment lanes an
order-up-to target of the destination ((a + 1) / 2 of the lane's ``max_target``), on
transfer lanes a quantity (max(a, 0) of the lane's ``max_order``). Two architectures:

- ``mlp``: a plain MLP from the observation vector (``envs.observations``) to the E actions;
- ``per_node`` (symmetry-aware, as in HDPO): one MLP per *kind* of stocking node, shared by
  every node of that kind (same role in the network: demand or not, lost sales or backlog,
  number of replenishment sources, upstream or not). A node's network sees its own state
  (on hand, backlog, units arriving per future period, last demand, its costs) and a
  context vector computed from the whole observation by a shared context MLP; it returns
  the targets of the node's replenishment lanes. One transfer MLP, shared by every transfer
  lane, sees both ends' states and the context and returns the lane's quantity. A network
  with one stocking node has no context (its own state is the whole observation).

Transfer actions are a sigmoid in (0, 1), the positive half of the env's range: the policy
can ask for (rounded) zero while its gradient never vanishes. ``HDPOPolicy`` wraps a network
as a batched ``baselines.evaluation.Policy`` (numpy state in, quantities out, through the
env's own ``ActionMap``), so it is evaluated by the same code as every baseline and agent.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from agents.hdpo_reorder import REORDER_FRACTION_START, ReorderPoints, reorder_points_of
from baselines.policy_base import Policy
from envs.actions import ActionMap
from envs.network import Network
from envs.observations import ObservationLayout
from envs.torch_transition import TorchState, constants, round_st, state_to_torch
from envs.transition import State

ARCHITECTURES = ("mlp", "per_node")
WARM_STARTS = ("s_S",)
SUPPORTED_ACTION_MODES = ("order_up_to", "quantity")


def mlp(sizes: list[int], activation: type[nn.Module] = nn.ELU) -> nn.Sequential:
    """Linear layers of ``sizes`` with ``activation`` between them (none after the last)."""
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


class TorchObservation:
    """``envs.observations.ObservationLayout.build`` on a ``TorchState`` (same entries)."""

    def __init__(self, net: Network):
        self.layout = ObservationLayout(net)
        self.size = len(self.layout.names)

    def __call__(self, state: TorchState) -> torch.Tensor:
        lay = self.layout
        b = state.num_envs
        dev = state.on_hand.device
        idx = lambda x: torch.as_tensor(x, dtype=torch.long, device=dev)  # noqa: E731
        parts = [
            state.on_hand[:, idx(lay.stock_nodes)],
            state.backlog[:, idx(lay.backlog_nodes)],
            state.pipeline.reshape(b, -1)[:, idx(lay.pipe_flat)],
            state.last_demand,
        ]
        out = torch.cat(parts, dim=1) * (1.0 / lay.scale)
        extra = []
        if lay.season > 1:
            angle = (2 * np.pi / lay.season) * (state.period % lay.season).to(out.dtype)
            extra += [torch.sin(angle)[:, None], torch.cos(angle)[:, None]]
        if len(lay.flag_nodes) or len(lay.flag_lanes):
            extra += [
                state.node_up[:, idx(lay.flag_nodes)].to(out.dtype),
                state.lane_up[:, idx(lay.flag_lanes)].to(out.dtype),
            ]
        return torch.cat([out, *extra], dim=1) if extra else out


def _replenishment_ranks(net: Network) -> np.ndarray:
    """Place of each replenishment lane among the replenishment lanes into its node."""
    ranks = np.zeros(net.num_lanes, dtype=int)
    for node in np.unique(net.lane_destination):
        lanes = np.flatnonzero((net.lane_destination == node) & ~net.is_transfer)
        ranks[lanes] = np.arange(len(lanes))
    return ranks


def node_kinds(net: Network) -> dict[tuple, list[int]]:
    """Stocking nodes grouped by role: (has demand, lost sales, replenishment sources,
    upstream of another node). Nodes of one kind share a network."""
    stock = list(net.stock_nodes)
    demand_pos = {int(n): i for i, n in enumerate(net.demand_nodes)}
    kinds: dict[tuple, list[int]] = {}
    for n in stock:
        inbound = int(np.sum((net.lane_destination == n) & ~net.is_transfer))
        upstream = bool(np.any((net.lane_source == n) & ~net.is_transfer))
        d = demand_pos.get(int(n))
        lost = d is not None and not bool(net.is_backlog[d])
        kinds.setdefault((d is not None, lost, inbound, upstream), []).append(int(n))
    return kinds


class MLPPolicy(nn.Module):
    """Observation -> E actions in [-1, 1] by one MLP (and, with an (s, S) head, the L
    reorder fractions in (0, 1) after them)."""

    def __init__(self, net: Network, hidden: list[int], reorder: ReorderPoints | None = None):
        super().__init__()
        self.reorder = reorder
        self.num_lanes = net.num_lanes
        extra = 0 if reorder is None else len(reorder.lanes)
        self.obs = TorchObservation(net)
        self.body = mlp([self.obs.size, *hidden, net.num_lanes + extra])
        self.register_buffer("is_transfer", torch.as_tensor(net.is_transfer))
        _init_output(self.body[-1], net.is_transfer, extra)
        self.register_buffer("prior", None)

    def output_layers(self) -> list[nn.Linear]:
        return [self.body[-1]]

    def forward(self, state: TorchState) -> torch.Tensor:
        raw = self.body(self.obs(state).to(self.body[0].weight.dtype))
        if self.prior is not None:
            raw = raw + self.prior
        e = self.num_lanes
        action = _squash(raw[:, :e], self.is_transfer)
        if self.reorder is None:
            return action
        return torch.cat([action, torch.sigmoid(raw[:, e:])], dim=1)


class PerNodePolicy(nn.Module):
    """Symmetry-aware policy: one network per node kind, one per transfer lane kind."""

    def __init__(
        self,
        net: Network,
        hidden: list[int],
        context: int,
        reorder: ReorderPoints | None = None,
    ):
        super().__init__()
        self.net = net
        self.reorder = reorder
        # With an (s, S) head each node network returns a second block of max_sources
        # outputs: the reorder fractions of its lanes (by rank).
        heads = 1 if reorder is None else 2
        self.obs = TorchObservation(net)
        self.scale = self.obs.layout.scale
        stock = [int(n) for n in net.stock_nodes]
        self.kinds = node_kinds(net)
        ranks = _replenishment_ranks(net)
        self.max_sources = max(
            1, int(ranks[~net.is_transfer].max() + 1) if (~net.is_transfer).any() else 1
        )
        # Static features per stocking node: holding cost, penalty, mean demand, lost sales,
        # mean replenishment lead time into it (all scaled to O(1)).
        demand_pos = {int(n): i for i, n in enumerate(net.demand_nodes)}
        static = []
        for n in stock:
            d = demand_pos.get(n)
            inbound = np.flatnonzero((net.lane_destination == n) & ~net.is_transfer)
            lead = np.mean([net.lead_times[e].mean for e in inbound]) if len(inbound) else 0.0
            static.append(
                [
                    net.holding_cost[n],
                    0.0 if d is None else net.penalty[d] / 10.0,
                    0.0 if d is None else net.demand.mean_demand[d] / self.scale,
                    0.0 if d is None else float(not net.is_backlog[d]),
                    lead / 4.0,
                ]
            )
        self.register_buffer("static", torch.as_tensor(np.array(static), dtype=torch.float32))
        self.register_buffer("stock", torch.as_tensor(stock))
        self.register_buffer(
            "destination_incidence", torch.as_tensor(net.destination_incidence.toarray()[:, stock])
        )
        demand_of = np.zeros((net.num_demand_nodes, len(stock)))
        for n, i in demand_pos.items():
            demand_of[i, stock.index(n)] = 1.0
        self.register_buffer("demand_of", torch.as_tensor(demand_of, dtype=torch.float32))
        self.local_size = 2 + net.pipeline_length + 1 + self.static.shape[1]
        if len(stock) == 1:
            context = 0
        self.context_net = mlp([self.obs.size, *hidden, context]) if context else None
        self.node_nets = nn.ModuleList(
            mlp([self.local_size + context, *hidden, heads * self.max_sources]) for _ in self.kinds
        )
        # Where each stocking node sits in the stacked outputs of the kinds.
        order = [n for nodes in self.kinds.values() for n in nodes]
        self.register_buffer("kind_nodes", torch.as_tensor([stock.index(n) for n in order]))
        slot = {n: i for i, n in enumerate(order)}
        replenish = np.flatnonzero(~net.is_transfer)
        flat = [slot[int(net.lane_destination[e])] * self.max_sources + ranks[e] for e in replenish]
        self.register_buffer("replenish", torch.as_tensor(replenish))
        self.register_buffer("replenish_flat", torch.as_tensor(np.array(flat, dtype=int)))
        if reorder is not None:
            rows = len(order) * self.max_sources  # the second block starts after the first
            flat_s = [
                rows + slot[int(net.lane_destination[e])] * self.max_sources + ranks[e]
                for e in reorder.lanes
            ]
            self.register_buffer("reorder_flat", torch.as_tensor(np.array(flat_s, dtype=int)))
        transfer = np.flatnonzero(net.is_transfer)
        self.register_buffer("transfer", torch.as_tensor(transfer))
        self.register_buffer(
            "transfer_ends",
            torch.as_tensor(
                np.array(
                    [
                        [
                            stock.index(int(net.lane_source[e])),
                            stock.index(int(net.lane_destination[e])),
                        ]
                        for e in transfer
                    ],
                    dtype=int,
                ).reshape(-1, 2)
            ),
        )
        lane_static = [[net.unit_cost[e], net.lead_times[e].mean] for e in transfer]
        self.register_buffer(
            "transfer_static",
            torch.as_tensor(np.array(lane_static, dtype=float).reshape(-1, 2), dtype=torch.float32),
        )
        self.transfer_net = (
            mlp([2 * self.local_size + context + 2, *hidden, 1]) if len(transfer) else None
        )
        for node_net in self.node_nets:
            _init_output(
                node_net[-1],
                np.zeros(self.max_sources, dtype=bool),
                (heads - 1) * self.max_sources,
            )
        if self.transfer_net is not None:
            _init_output(self.transfer_net[-1], np.ones(1, dtype=bool))
        self.register_buffer("prior", None)

    def output_layers(self) -> list[nn.Linear]:
        nets = [*self.node_nets] + ([self.transfer_net] if self.transfer_net is not None else [])
        return [n[-1] for n in nets]

    def local_features(self, state: TorchState) -> torch.Tensor:
        """Each stocking node's own state and costs [B, N_stock, F]."""
        dtype = self.static.dtype
        s = 1.0 / self.scale
        on_hand = state.on_hand[:, self.stock].to(dtype) * s
        backlog = state.backlog[:, self.stock].to(dtype) * s
        # Units arriving at each node k + 1 periods from now, summed over its inbound lanes.
        arriving = (
            torch.einsum(
                "bep,en->bnp", state.pipeline.to(dtype), self.destination_incidence.to(dtype)
            )
            * s
        )
        demand = (state.last_demand.to(dtype) @ self.demand_of) * s
        b = on_hand.shape[0]
        static = self.static.expand(b, -1, -1)
        return torch.cat(
            [on_hand[..., None], backlog[..., None], arriving, demand[..., None], static], dim=2
        )

    def forward(self, state: TorchState) -> torch.Tensor:
        dtype = self.static.dtype
        b = state.num_envs
        if self.context_net is not None:
            context = self.context_net(self.obs(state).to(dtype))
        else:
            context = self.static.new_zeros(b, 0)
        local = self.local_features(state)
        outs = []
        start = 0
        for node_net, nodes in zip(self.node_nets, self.kinds.values()):
            idx = self.kind_nodes[start : start + len(nodes)]
            start += len(nodes)
            x = torch.cat([local[:, idx], context[:, None].expand(-1, len(nodes), -1)], dim=2)
            outs.append(node_net(x))
        node_out = torch.cat(outs, dim=1)
        m = self.max_sources
        if self.reorder is not None:  # first blocks of every node, then second blocks
            node_out = torch.cat([node_out[..., :m], node_out[..., m:]], dim=1)
        node_out = node_out.reshape(b, -1)
        raw = torch.zeros(b, self.net.num_lanes, dtype=dtype, device=node_out.device)
        raw = raw.index_copy(1, self.replenish, node_out[:, self.replenish_flat])
        e = self.net.num_lanes
        if self.prior is not None:
            raw = raw + self.prior[:e]
        action = torch.tanh(raw)
        if self.transfer_net is not None:
            ends = self.transfer_ends
            n_t = ends.shape[0]
            x = torch.cat(
                [
                    local[:, ends[:, 0]],
                    local[:, ends[:, 1]],
                    context[:, None].expand(-1, n_t, -1),
                    self.transfer_static.expand(b, -1, -1),
                ],
                dim=2,
            )
            moved = self.transfer_net(x)[..., 0]
            if self.prior is not None:
                moved = moved + self.prior[self.transfer]
            action = action.index_copy(1, self.transfer, torch.sigmoid(moved))
        if self.reorder is None:
            return action
        fraction = node_out[:, self.reorder_flat]
        if self.prior is not None:
            fraction = fraction + self.prior[e:]
        return torch.cat([action, torch.sigmoid(fraction)], dim=1)


def _init_output(layer: nn.Linear, is_transfer: np.ndarray, reorder: int = 0) -> None:
    """Start near the middle of the target range, near zero transfers and (for the last
    ``reorder`` outputs, the reorder fractions of an (s, S) head) near
    ``REORDER_FRACTION_START``."""
    start = float(np.log(REORDER_FRACTION_START / (1 - REORDER_FRACTION_START)))
    with torch.no_grad():
        layer.weight.mul_(0.1)
        bias = np.concatenate([np.where(is_transfer, -3.0, 0.0), np.full(reorder, start)])
        layer.bias.copy_(torch.as_tensor(bias))


def _squash(raw: torch.Tensor, is_transfer: torch.Tensor) -> torch.Tensor:
    """tanh on replenishment lanes, sigmoid (the positive half) on transfer lanes."""
    return torch.where(is_transfer, torch.sigmoid(raw), torch.tanh(raw))


def build_network_policy(net: Network, settings: dict[str, Any]) -> nn.Module:
    """The policy network named by ``settings['architecture']`` (``mlp`` or ``per_node``),
    with the action head of ``settings['action_head']`` (``agents.hdpo_reorder``)."""
    arch = str(settings.get("architecture", "per_node"))
    hidden = [int(h) for h in settings.get("hidden", [64, 64])]
    reorder = reorder_points_of(net, settings)
    if arch == "mlp":
        model = MLPPolicy(net, hidden, reorder)
    elif arch == "per_node":
        model = PerNodePolicy(net, hidden, int(settings.get("context", 16)), reorder)
    else:
        raise ValueError(
            f"agent.model.architecture: unknown {arch!r}; choose one of {ARCHITECTURES}"
        )
    warm = settings.get("warm_start")
    if warm is not None:
        if warm not in WARM_STARTS:
            raise ValueError(f"agent.model.warm_start: one of {WARM_STARTS} or null, got {warm!r}")
        size = net.num_lanes + (0 if reorder is None else len(reorder.lanes))
        model.register_buffer("prior", torch.zeros(size))  # set by start_from, saved with it
    return model


def start_from(model: nn.Module, prior: np.ndarray) -> None:
    """Make ``model`` act as a fixed policy: its output layers to zero and its pre-activation
    offsets (the ``prior`` buffer, saved with the weights) to ``prior`` [E (+ L)]. Training
    then learns a state-dependent residual on top of that policy."""
    if getattr(model, "prior", None) is None:
        raise ValueError("agent.model.warm_start: the network was built without one")
    with torch.no_grad():
        for layer in model.output_layers():
            layer.weight.zero_()
            layer.bias.zero_()
        model.prior.copy_(torch.as_tensor(prior, dtype=model.prior.dtype))


class TorchActionMap:
    """``envs.actions.ActionMap.to_quantities`` on tensors, with straight-through rounding;
    with ``reorder``, the (s, S) head of ``agents.hdpo_reorder`` on its lanes."""

    def __init__(self, actions: ActionMap, reorder: ReorderPoints | None = None):
        if actions.mode not in SUPPORTED_ACTION_MODES:
            raise ValueError(
                f"env.action_mode: HDPO acts in {SUPPORTED_ACTION_MODES}, got {actions.mode!r}"
            )
        if reorder is not None and actions.mode != "order_up_to":
            raise ValueError(
                f"agent.model.action_head: s_S needs env.action_mode=order_up_to, got "
                f"{actions.mode!r}"
            )
        self.actions = actions
        self.reorder = reorder
        net = actions.net
        self.net = net
        # Lanes into one node order in lane order (envs.actions): one group per rank.
        ranks = _replenishment_ranks(net)
        replenish = np.flatnonzero(~net.is_transfer)
        groups = [replenish[ranks[replenish] == r] for r in np.unique(ranks[replenish])]
        self.by_rank = [torch.as_tensor(lanes) for lanes in groups]
        self.dest = [torch.as_tensor(net.lane_destination[lanes]) for lanes in groups]
        if reorder is not None:  # per rank: which lanes are (s, S), their fraction columns
            self.reorder_mask = [torch.as_tensor(reorder.mask[lanes]) for lanes in groups]
            self.has_reorder = [bool(reorder.mask[lanes].any()) for lanes in groups]
            self.reorder_columns = [
                torch.as_tensor(np.maximum(reorder.column[lanes] - net.num_lanes, 0))
                for lanes in groups
            ]

    def __call__(
        self, action: torch.Tensor, state: TorchState, straight_through: bool = True
    ) -> torch.Tensor:
        """Quantities per lane [B, E] for the network's output ``action``."""
        return self.with_gate(action, state, straight_through)[0]

    def with_gate(
        self, action: torch.Tensor, state: TorchState, straight_through: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Quantities [B, E] and, with an (s, S) head, the reorder trigger per lane [B, E]
        (zero on other lanes): the fixed-cost gate of ``envs.torch_transition``."""
        net = self.net
        k = constants(net, state.on_hand)
        action = action.to(state.on_hand.dtype)
        fraction = None
        if self.reorder is not None:
            fraction = action[:, net.num_lanes :]
            action = action[:, : net.num_lanes]
        clipped = torch.clamp(action, -1.0, 1.0)
        unit = torch.where(
            k.is_transfer.bool(), torch.clamp(clipped, min=0.0), (clipped + 1.0) * 0.5
        )
        scale = torch.as_tensor(self.actions.scale, dtype=unit.dtype, device=unit.device)
        scaled = round_st(unit * scale, straight_through)
        if self.actions.mode == "quantity":
            return scaled, None
        position = state.on_hand - state.backlog + state.in_transit() @ k.destination_incidence
        quantity = scaled
        gate = torch.zeros_like(scaled) if self.reorder is not None else None
        for r, (lanes, dest) in enumerate(zip(self.by_rank, self.dest)):
            lanes, dest = lanes.to(unit.device), dest.to(unit.device)
            order = torch.clamp(scaled[:, lanes] - position[:, dest], min=0.0)
            if self.reorder is not None and self.has_reorder[r]:
                reorder = self.reorder_mask[r].to(unit.device)
                columns = self.reorder_columns[r].to(unit.device)
                trigger = self.reorder.trigger_torch(
                    scaled[:, lanes], fraction[:, columns], position[:, dest], straight_through
                )
                trigger = torch.where(reorder, trigger, torch.zeros_like(trigger))
                order = torch.where(reorder, trigger * order, order)
                gate = gate.index_copy(1, lanes, trigger)
            quantity = quantity.index_copy(1, lanes, order)
            position = position.index_add(1, dest, order)
        return quantity, gate


class HDPOPolicy(Policy):
    """A trained HDPO network as a batched ``Policy``: ``act(state) -> quantities [B, E]``.

    The network's action goes through the env's ``ActionMap`` (whole units, exactly as the
    env maps any agent's action), so evaluation needs no torch simulator.
    """

    def __init__(self, model: nn.Module, net: Network, action_mode: str = "order_up_to"):
        self.model = model.eval()
        self.net = net
        self.actions = ActionMap(net, action_mode)
        self.reorder: ReorderPoints | None = getattr(model, "reorder", None)
        TorchActionMap(self.actions, self.reorder)  # rejects unsupported modes early
        param = next(model.parameters())
        self.dtype, self.device = param.dtype, param.device

    def predict(self, state: State) -> np.ndarray:
        """The network's action in [-1, 1]^E for ``state`` (before the action map; with an
        (s, S) head, followed by the L reorder fractions)."""
        with torch.no_grad():
            action = self.model(state_to_torch(state, self.dtype, self.device))
        return action.double().cpu().numpy()

    def act(self, state: State) -> np.ndarray:
        if self.reorder is not None:
            return self.reorder.orders(self.actions, self.predict(state), state)
        return self.actions.to_quantities(self.predict(state), state)

    def describe(self) -> dict[str, Any]:
        return {
            "policy": "HDPO",
            "network": type(self.model).__name__,
            "parameters": int(sum(p.numel() for p in self.model.parameters())),
            "action_mode": self.actions.mode,
            "action_head": "order_up_to" if self.reorder is None else "s_S",
        }
