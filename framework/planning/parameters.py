"""What the plan says about parameters: total vs active per token, and what the method trains.

A mixture of experts runs each token through its top-k experts only, so its "active" count
(the one its publisher quotes beside the total) sets the compute per token while the total sets
the weight memory. A LoRA adapter is split by what it adapts (attention, dense MLP, routed
experts, shared experts), because on transformers 5 the routed experts are fused 3-D
parameters that module-name targets miss: an adapter without its "expert" share barely
changes an MoE model. Counts follow peft's layout (``framework.planning.trainables``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from framework.hookdata import ModelFacts
from framework.planning.shapes import shape_from_facts
from framework.planning.trainables import adapter_parameters_by_role, resolve_targets, trainables_for

ADAPTERS = frozenset({"lora", "dora", "rslora", "qlora", "qlora8"})
ROLE_WORDS = {"attention": "attention", "mlp": "mlp", "expert": "expert", "shared_expert": "shared-expert"}


def _short(n: float) -> str:
    for unit, size in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.2f}{unit}"
    return str(int(n))


@dataclass(frozen=True)
class ParameterReport:
    """Parameters of the model and of what ``method`` trains (counted offline from the config)."""

    method: str
    total: int
    active: int
    trainable: int
    by_role: dict[str, int] = field(default_factory=dict)  # adapter parameters per role (LoRA methods)
    experts: int = 0
    experts_per_token: int = 0
    layers: int = 0  # blocks with experts
    lora_r: int = 0

    def size_line(self) -> str:
        """``46.70B total`` and, for a mixture of experts, the active count per token."""
        if not self.experts:
            return f"{_short(self.total)} total"
        return (f"{_short(self.total)} total, {_short(self.active)} active per token "
                f"({self.experts_per_token} of {self.experts} experts)")

    def line(self) -> str:
        """The plan's trainable-parameter line; for an MoE adapter it names the expert share."""
        share = f"{100 * self.trainable / self.total:.4f}% of {_short(self.total)}" if self.total else ""
        if self.method not in ADAPTERS:
            return f"{_short(self.trainable)} ({share}) by {self.method}"
        parts = [f"{ROLE_WORDS[role]} {_short(n)}" for role, n in self.by_role.items() if n]
        if self.experts and not self.by_role.get("expert"):
            parts.append("expert 0 (routed experts frozen)")
        elif self.by_role.get("expert"):
            parts[[p.split()[0] for p in parts].index("expert")] += (
                f" ({self.experts} experts x {self.layers} layers, fused, peft target_parameters)")
        return f"{_short(self.trainable)} LoRA r={self.lora_r}: " + ", ".join(parts) + f" ({share})"


def parameter_report(facts: ModelFacts, *, method: str, lora_r: int = 8,
                     lora_targets: Sequence[str] | str | None = None, lora_parameters: Sequence[str] = (),
                     freeze_trainable_layers: int = 2, num_virtual_tokens: int = 16) -> ParameterReport:
    """Total, active and trainable parameters of ``method`` on the model the facts describe.

    ``lora_targets`` and ``lora_parameters`` are the run's peft ``target_modules`` and
    ``target_parameters`` (the plugin's, or the user's module names).
    """
    shape = shape_from_facts(facts)
    adapted = resolve_targets(lora_targets, shape, lora_parameters) if method in ADAPTERS else frozenset()
    train = trainables_for(shape, method="full" if method == "hybrid" else method, compute_dtype="bf16",
                           adapted=adapted, lora_r=lora_r, adapter_dtype="fp32",
                           freeze_layers=freeze_trainable_layers, num_virtual_tokens=num_virtual_tokens)
    by_role = adapter_parameters_by_role(shape, adapted, lora_r, method) if method in ADAPTERS else {}
    return ParameterReport(method=method, total=shape.parameter_count(), active=shape.active_parameter_count(),
                           trainable=train.count, by_role=by_role, experts=shape.experts,
                           experts_per_token=shape.experts_per_token, layers=shape.moe_blocks, lora_r=lora_r)
