"""The (s, S) action head of HDPO: a reorder point and an order-up-to level per lane.

On a lane with a fixed ordering cost K an order-up-to action pays K almost every period; the
classical answer is an (s, S) policy (Scarf 1960): order up to S only when the inventory
position has fallen to the reorder point s or below. With ``agent.model.action_head=s_S``
the policy network returns, for every replenishment lane with ``fixed_cost > 0``, an
order-up-to level S (the lane's usual order-up-to action) and a reorder fraction f in (0, 1),
the reorder point being s = f * S (so 0 <= s <= S). Other replenishment lanes stay
order-up-to and transfer lanes stay quantities. Lanes into one node order in lane order,
each seeing the position raised by the lanes before it, as in ``envs.actions``.

The trigger 1[position <= s] is a step in s; training needs a gradient through it. The
relaxation is the logistic trigger sigmoid((s - position) / width):

- ``trigger=straight_through`` (default): the forward pass uses the exact trigger (the
  training trajectory is exactly the (s, S) trajectory), the backward pass the logistic's
  gradient;
- ``trigger=soft``: the forward pass orders sigmoid(...) * (S - position) (rounded to whole
  units straight-through by the transition), a smooth relaxation.

In both, the trigger is also the fixed cost's gate (``envs.torch_transition``'s
``fixed_cost_gate``): K is charged exactly per shipment and differentiated as K * trigger,
so raising s is seen to cost fixed charges. At evaluation the trigger is exact and the
quantities are whole units (``ReorderPoints.orders``), which makes the head on constant s and
S exactly the (s, S) rule of ``baselines.policies.SS``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from envs.actions import ActionMap
from envs.network import Network
from envs.transition import State

if TYPE_CHECKING:
    from baselines.policies import SS

ACTION_HEADS = ("order_up_to", "s_S")
TRIGGERS = ("straight_through", "soft")
REORDER_FRACTION_START = 0.7
"""Reorder fraction f = s / S of an untrained network (bias of its output)."""


def reorder_lanes(net: Network) -> np.ndarray:
    """Replenishment lanes with a fixed ordering cost: those the (s, S) head drives."""
    return np.flatnonzero(~net.is_transfer & (net.fixed_cost > 0))


class ReorderPoints:
    """Which lanes use (s, S) and how their trigger is relaxed during training.

    The network's output is [B, E + L]: the E actions of the env's parametrisation, then a
    reorder fraction in (0, 1) for each of the L lanes of ``lanes`` (in that order).
    """

    def __init__(self, net: Network, width: float = 2.0, trigger: str = "straight_through"):
        self.lanes = reorder_lanes(net)
        if not len(self.lanes):
            raise ValueError(
                "agent.model.action_head: s_S drives replenishment lanes with a fixed cost "
                "and this network has none; use order_up_to"
            )
        if not np.isfinite(width) or width <= 0:
            raise ValueError(f"agent.model.trigger_width: must be > 0, got {width!r}")
        if trigger not in TRIGGERS:
            raise ValueError(f"agent.model.trigger: one of {TRIGGERS}, got {trigger!r}")
        self.net = net
        self.width = float(width)
        self.trigger = trigger
        self.num_lanes = net.num_lanes
        self.mask = np.zeros(net.num_lanes, dtype=bool)
        self.mask[self.lanes] = True
        # Column of each lane's reorder fraction in the output (0 where the lane has none).
        self.column = np.zeros(net.num_lanes, dtype=int)
        self.column[self.lanes] = net.num_lanes + np.arange(len(self.lanes))

    def orders(self, actions: ActionMap, output: np.ndarray, state: State) -> np.ndarray:
        """Whole-unit quantities [B, E] with the exact trigger (evaluation).

        On a reorder lane: S - position when position <= s, else 0; elsewhere the env's own
        order-up-to map."""
        e = self.num_lanes
        target = actions.scaled(actions.check(output[:, :e], state.num_envs))
        quantity = target.copy()
        position = state.inventory_position(self.net)
        for lanes in actions.replenish_by_rank:
            dest = self.net.lane_destination[lanes]
            up_to = np.maximum(target[:, lanes] - position[:, dest], 0.0)
            reorder_point = output[:, self.column[lanes]] * target[:, lanes]
            order = np.where(self.mask[lanes] & (position[:, dest] > reorder_point), 0.0, up_to)
            quantity[:, lanes] = order
            position[:, dest] += order  # lanes of one rank go to distinct nodes
        return quantity

    def trigger_torch(
        self,
        level: torch.Tensor,
        fraction: torch.Tensor,
        position: torch.Tensor,
        straight_through: bool,
    ) -> torch.Tensor:
        """The trigger of lanes with order-up-to ``level`` S and reorder ``fraction`` f at
        inventory ``position`` (all [B, n]): exact forward with the logistic's gradient
        (``straight_through``, training), the logistic itself (``soft``), or exact with no
        gradient (``straight_through=False``, evaluation in torch).

        The relaxation differentiates the trigger in the reorder point s = f S only: the
        position enters it without gradient. Its slope in the position, up to
        (S - position) sigmoid' / width units ordered per unit of stock, would compound from
        period to period through the dynamics; on ``network`` it made the pathwise gradient
        of the regions' order-up-to levels 5 to 4,500 times the finite difference of the
        same training loss, one of them of the wrong sign (README, HDPO)."""
        reorder_point = fraction * level
        hard = (reorder_point - position >= 0).to(level.dtype)
        if not straight_through:
            return hard
        soft = torch.sigmoid((reorder_point - position.detach()) / self.width)
        if self.trigger == "soft":
            return soft
        return hard + (soft - soft.detach())  # exactly hard forward


def reorder_points_of(net: Network, settings: dict[str, Any]) -> ReorderPoints | None:
    """The (s, S) head of ``agent.model`` settings, or None for plain order-up-to."""
    head = str(settings.get("action_head", "order_up_to"))
    if head not in ACTION_HEADS:
        raise ValueError(f"agent.model.action_head: one of {ACTION_HEADS}, got {head!r}")
    if head == "order_up_to":
        return None
    return ReorderPoints(
        net,
        float(settings.get("trigger_width", 2.0)),
        str(settings.get("trigger", "straight_through")),
    )


TRANSFER_IDLE = 0.45
"""Units a warm-started transfer lane asks for: rounded to zero, so it moves nothing, but
close enough to one unit that its (straight-through) gradient can start it moving."""
EDGE = 1e-3
"""Distance from the ends of tanh's range: atanh stays finite, whole units stay exact."""


def s_S_prior(
    net: Network, actions: ActionMap, reorder: ReorderPoints | None, policy: SS
) -> np.ndarray:
    """Pre-activations [E (+ L)] under which a network with zero output layers acts as the
    (s, S) policy ``policy`` (a ``baselines.policies.SS``, e.g. tuned).

    Each ordering node's primary lane gets its order-up-to level S (exactly, after the action
    map's rounding) and, on an (s, S) lane, the reorder fraction (s + 0.5) / S (positions are
    whole units, so position <= s + 0.5 is position <= s); on lanes without a fixed cost the
    head is order-up-to, i.e. (S - 1, S). Other replenishment lanes get S = 0 and transfer
    lanes ask for ``TRANSFER_IDLE`` units (zero once rounded), as in the (s, S) baseline."""
    e = net.num_lanes
    level = np.zeros(e)
    point = np.zeros(e)
    level[policy.tree.lanes] = policy.order_up_to_levels
    point[policy.tree.lanes] = policy.reorder_points
    unit = np.clip(level / actions.scale, 0.0, 1.0)
    raw = np.arctanh(np.clip(2 * unit - 1, -1 + EDGE, 1 - EDGE))
    idle = np.clip(TRANSFER_IDLE / np.maximum(actions.scale, 1.0), EDGE, 1 - EDGE)
    raw[net.is_transfer] = np.log(idle / (1 - idle))[net.is_transfer]
    if reorder is None:
        return raw
    lanes = reorder.lanes
    fraction = np.where(level[lanes] > 0, (point[lanes] + 0.5) / np.maximum(level[lanes], 1), 0)
    fraction = np.clip(fraction, EDGE, 1 - EDGE)
    return np.concatenate([raw, np.log(fraction / (1 - fraction))])
