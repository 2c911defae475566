"""The shapes of a decoder-only transformer, read from ``ModelFacts``, and its parameter count.

Every memory term of the planner is a product of these shapes, so they are computed once
here. The model is the common pre-norm decoder that transformers implements for most causal
LMs: token embedding, ``layers`` blocks of (norm, attention with grouped KV heads, norm,
gated MLP of three matrices, or a mixture of such experts with a router), a final norm and
an output head that may share the embedding matrix.

Config conventions are transformers': ``intermediate_size`` is the width of each of the
three MLP matrices, ``head_dim`` may be explicit (wider or narrower than hidden/heads), and a
missing ``tie_word_embeddings`` means tied (``PretrainedConfig``'s default).
"""

from __future__ import annotations

from dataclasses import dataclass

from framework.errors import ModelError
from framework.hookdata import ModelFacts

#: Linear layers of one decoder block, by the module names transformers gives them.
ATTENTION_LINEARS = ("q_proj", "k_proj", "v_proj", "o_proj")
MLP_LINEARS = ("gate_proj", "up_proj", "down_proj")
BLOCK_LINEARS = ATTENTION_LINEARS + MLP_LINEARS


@dataclass(frozen=True)
class Linear:
    """One kind of linear layer in a decoder block.

    ``copies`` is how many of it one block holds (experts hold one per expert) and
    ``active`` how many of them one token passes through (the routed top-k for experts).
    ``site`` names the tensor it reads: linears reading the same tensor share saved inputs.
    ``role`` says what it belongs to: attention, mlp (dense), expert (routed: transformers 5
    stores all experts of a block as one fused 3-D parameter, gate and up projections fused
    too, which peft adapts through ``target_parameters`` only), shared_expert or router.
    """

    name: str
    in_features: int
    out_features: int
    site: str
    copies: int = 1
    active: int = 1
    role: str = "attention"

    @property
    def numel(self) -> int:
        """Weights of all copies in one block."""
        return self.in_features * self.out_features * self.copies

    @property
    def fused(self) -> bool:
        """A 3-D parameter (routed experts), not an ``nn.Linear``: never quantized, adapted by parameter."""
        return self.role == "expert"

    @property
    def key(self) -> str:
        """Its name among the block's linears: the module name, prefixed for experts and shared experts."""
        prefix = {"expert": "experts.", "shared_expert": "shared_expert."}.get(self.role, "")
        return prefix + self.name


@dataclass(frozen=True)
class ModelShape:
    """The widths that size every tensor of training."""

    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    vocab: int
    tied: bool
    experts: int = 0
    experts_per_token: int = 0
    expert_intermediate: int = 0
    shared_expert_intermediate: int = 0
    attention_bias: bool = False
    mlp_bias: bool = False
    norms_per_layer: int = 2

    @property
    def q_width(self) -> int:
        return self.heads * self.head_dim

    @property
    def kv_width(self) -> int:
        return self.kv_heads * self.head_dim

    @property
    def mlp_width_per_token(self) -> int:
        """MLP width one token runs through: dense width, or top-k experts plus shared ones."""
        if self.experts:
            return self.expert_intermediate * self.experts_per_token + self.shared_expert_intermediate
        return self.intermediate

    def linears(self) -> tuple[Linear, ...]:
        """The linear layers of one block (the router of a mixture counts as one more)."""
        d = self.hidden
        found = [
            Linear("q_proj", d, self.q_width, "attn_in"),
            Linear("k_proj", d, self.kv_width, "attn_in"),
            Linear("v_proj", d, self.kv_width, "attn_in"),
            Linear("o_proj", self.q_width, d, "attn_out"),
        ]
        if self.experts:
            k, f = self.experts_per_token, self.expert_intermediate
            found += [
                Linear("gate_up_proj", d, 2 * f, "mlp_in", self.experts, k, "expert"),
                Linear("down_proj", f, d, "mlp_down", self.experts, k, "expert"),
                Linear("router", d, self.experts, "mlp_in", role="router"),
            ]
            if self.shared_expert_intermediate:
                s = self.shared_expert_intermediate
                found += [
                    Linear("gate_proj", d, s, "mlp_in", role="shared_expert"),
                    Linear("up_proj", d, s, "mlp_in", role="shared_expert"),
                    Linear("down_proj", s, d, "mlp_down", role="shared_expert"),
                ]
        else:
            f = self.intermediate
            found += [
                Linear("gate_proj", d, f, "mlp_in", role="mlp"),
                Linear("up_proj", d, f, "mlp_in", role="mlp"),
                Linear("down_proj", f, d, "mlp_down", role="mlp"),
            ]
        return tuple(found)

    def active_block_parameters(self) -> int:
        """Parameters of one block a token runs through: the routed top-k experts, not all of them."""
        unused = sum(lin.in_features * lin.out_features * (lin.copies - lin.active)
                     for lin in self.linears() if lin.fused)
        if self.mlp_bias:
            unused += sum(lin.out_features * (lin.copies - lin.active) for lin in self.linears() if lin.fused)
        return self.block_parameters() - unused

    def block_biases(self) -> int:
        total = 0
        if self.attention_bias:
            total += self.q_width + 2 * self.kv_width + self.hidden
        if self.mlp_bias:
            total += sum(lin.out_features * lin.copies for lin in self.linears()
                         if lin.role in ("mlp", "expert", "shared_expert"))
        return total

    def block_parameters(self) -> int:
        """Parameters of one decoder block: linears, biases and norm weights."""
        linear = sum(lin.numel for lin in self.linears())
        return linear + self.block_biases() + self.norms_per_layer * self.hidden

    def embedding_parameters(self) -> int:
        return self.vocab * self.hidden

    def head_parameters(self) -> int:
        """Output head parameters stored apart from the embedding (0 when tied)."""
        return 0 if self.tied else self.vocab * self.hidden

    def parameter_count(self) -> int:
        return (self.embedding_parameters() + self.layers * self.block_parameters()
                + self.hidden + self.head_parameters())

    def active_parameter_count(self) -> int:
        """Parameters one token runs through (the published "active" count of a mixture of experts)."""
        return (self.embedding_parameters() + self.layers * self.active_block_parameters()
                + self.hidden + self.head_parameters())


def _need(value: int | None, key: str, facts: ModelFacts) -> int:
    if not value:
        raise ModelError(f"config.json has no {key}, which the memory planner needs",
                         where=facts.name_or_path, hint="plan with a transformers-style config.json")
    return int(value)


def shape_from_facts(facts: ModelFacts) -> ModelShape:
    """Read the shapes from the facts, with the few extra keys a mixture of experts needs."""
    raw = {**(facts.text_config or {}), **facts.raw}
    hidden = _need(facts.hidden_size, "hidden_size", facts)
    heads = _need(facts.num_attention_heads, "num_attention_heads", facts)
    head_dim = facts.effective_head_dim or hidden // heads
    experts = int(facts.num_experts or 0)
    intermediate = _need(facts.intermediate_size or raw.get("moe_intermediate_size"), "intermediate_size", facts)
    expert_width = int(raw.get("moe_intermediate_size") or intermediate) if experts else 0
    shared = int(raw.get("shared_expert_intermediate_size") or 0)
    if experts and not shared and raw.get("n_shared_experts"):
        shared = int(raw["n_shared_experts"]) * expert_width
    return ModelShape(
        hidden=hidden,
        layers=_need(facts.num_hidden_layers, "num_hidden_layers", facts),
        heads=heads,
        kv_heads=int(facts.num_key_value_heads or heads),
        head_dim=int(head_dim),
        intermediate=intermediate,
        vocab=_need(facts.vocab_size, "vocab_size", facts),
        tied=facts.tie_word_embeddings is not False,
        experts=experts,
        experts_per_token=int(raw.get("num_experts_per_tok") or raw.get("top_k") or (2 if experts else 0)),
        expert_intermediate=expert_width,
        shared_expert_intermediate=shared,
        attention_bias=bool(raw.get("attention_bias") or raw.get("qkv_bias")),
        mlp_bias=bool(raw.get("mlp_bias")),
    )


def parameter_count(facts: ModelFacts) -> int:
    """All parameters of the model described by the facts (a tied head counted once)."""
    return shape_from_facts(facts).parameter_count()
