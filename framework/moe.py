"""The router's auxiliary load-balancing loss of mixture-of-experts models, kept in the training loss.

transformers' MoE causal LMs add ``router_aux_loss_coef * load_balancing_loss_func(...)`` to the
loss only when ``config.output_router_logits`` is true, and published configs ship it false, so a
fine-tune would silently drop the loss the model was pre-trained with. ``enable`` switches it on
with the configured coefficient (``training.router_aux_loss_coef``; empty keeps the model's own,
0 turns it off). The chunked labelled-only loss calls the decoder past the causal LM's forward,
so it adds the same term itself (``aux_loss``), with the function of the model's own module:
both losses then agree to rounding. Architectures whose transformers class computes no such loss
(no ``load_balancing_loss_func`` in their modeling module) are reported, never guessed.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from typing import Any, Callable

from framework.hookdata import ModelFacts

#: The config attribute transformers' MoE configs name the coefficient with.
COEF_KEY = "router_aux_loss_coef"


def _loss_function(lm: Any) -> Callable[..., Any] | None:
    """``load_balancing_loss_func`` of the module that defines the causal LM's class, if any."""
    if not hasattr(lm, COEF_KEY):
        return None
    return getattr(sys.modules.get(type(lm).__module__), "load_balancing_loss_func", None)


def _text_config(lm: Any) -> Any:
    config = lm.config
    return config.get_text_config() if hasattr(config, "get_text_config") else config


def enable(model: Any, coef: float | None) -> float | None:
    """Keep the router loss in the model's loss; returns the coefficient in force (None: no such loss).

    Sets ``output_router_logits`` on the config (both the causal LM's own forward and the
    decoder read it) and the coefficient on the causal LM, which copied it from the config at
    construction.
    """
    lm = model.get_base_model() if hasattr(model, "get_base_model") else model  # under a peft wrapper
    if _loss_function(lm) is None:
        return None
    value = float(getattr(lm, COEF_KEY) if coef is None else coef)
    setattr(lm, COEF_KEY, value)
    for config in {id(c): c for c in (lm.config, _text_config(lm))}.values():
        config.output_router_logits = value > 0
        setattr(config, COEF_KEY, value)
    return value


def coefficient(model: Any) -> float | None:
    """The router loss coefficient the model's training loss carries (None: no router loss)."""
    lm = model.get_base_model() if hasattr(model, "get_base_model") else model
    return float(getattr(lm, COEF_KEY)) if wanted(lm) else None


def wanted(lm: Any) -> bool:
    """Whether the loss of ``lm`` includes the router term (``enable`` switched it on)."""
    return _loss_function(lm) is not None and bool(getattr(_text_config(lm), "output_router_logits", False))


def aux_loss(lm: Any, decoder_output: Any, attention_mask: Any) -> Any:
    """``coef * load_balancing_loss`` from the decoder's router logits, as the causal LM adds it."""
    function = _loss_function(lm)
    router_logits = getattr(decoder_output, "router_logits", None)
    if function is None or not router_logits:
        return None
    value = function(router_logits, lm.num_experts, lm.num_experts_per_tok, attention_mask)
    return getattr(lm, COEF_KEY) * value


@dataclass(frozen=True)
class RouterLoss:
    """What the plan says about the router loss of a model (offline, from its config)."""

    experts: int
    per_token: int
    coef: float | None  # in force; None when transformers computes no router loss for the class
    source: str

    def line(self) -> str:
        routing = f"{self.experts} experts, {self.per_token} per token"
        if self.coef is None:
            return f"{routing}; router load-balancing loss: {self.source}"
        if self.coef == 0:
            return f"{routing}; router load-balancing loss off (coef 0, {self.source})"
        return f"{routing}; router load-balancing loss kept in the training loss, coef {self.coef:g} ({self.source})"


def _has_loss_function(model_type: str) -> bool:
    try:
        module = importlib.import_module(f"transformers.models.{model_type}.modeling_{model_type}")
    except Exception:
        return False
    return hasattr(module, "load_balancing_loss_func")


def router_loss(facts: ModelFacts, coef: float | None) -> RouterLoss | None:
    """The plan's view of the router loss; None for a dense model."""
    if not facts.num_experts:
        return None
    raw = {**facts.raw, **(facts.text_config or {})}
    from framework.planning.shapes import experts_per_token

    per_token = experts_per_token(raw)
    types = [t for t in (raw.get("model_type"), facts.model_type) if t]
    if not any(_has_loss_function(t) for t in types):
        return RouterLoss(facts.num_experts, per_token, None,
                          f"transformers computes none for {types[0] if types else 'this model'}")
    if coef is not None:
        return RouterLoss(facts.num_experts, per_token, float(coef), "training.router_aux_loss_coef")
    if raw.get(COEF_KEY) is not None:
        return RouterLoss(facts.num_experts, per_token, float(raw[COEF_KEY]), f"config.json {COEF_KEY}")
    default = _class_default(types)
    if default is None:
        return RouterLoss(facts.num_experts, per_token, None, f"config.json has no {COEF_KEY}")
    return RouterLoss(facts.num_experts, per_token, default, f"transformers' default {COEF_KEY}")


def _class_default(model_types: list[str]) -> float | None:
    """The coefficient a config without the key gets from its transformers config class."""
    from transformers import AutoConfig

    for model_type in model_types:
        try:
            value = getattr(AutoConfig.for_model(model_type), COEF_KEY, None)
        except Exception:
            continue
        if value is not None:
            return float(value)
    return None
