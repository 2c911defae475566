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
    moe_layers: int = 0  # blocks with experts in a mixed model (0: every block when experts > 0)
    dense_intermediate: int = 0  # MLP width of the dense blocks of a mixed model (0: intermediate)
    parallel_mlp: bool = False  # a dense MLP of ``intermediate`` beside the experts in each MoE block
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
        """MLP width one token runs through in an MoE block: dense width, or top-k experts plus
        shared ones (and the dense MLP beside them)."""
        if self.experts:
            return (self.expert_intermediate * self.experts_per_token + self.shared_expert_intermediate
                    + (self.intermediate if self.parallel_mlp else 0))
        return self.intermediate

    @property
    def moe_blocks(self) -> int:
        return (self.moe_layers or self.layers) if self.experts else 0

    @property
    def dense_blocks(self) -> int:
        """Blocks of a mixed model with a dense MLP instead of experts."""
        return self.layers - self.moe_blocks if self.experts else 0

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
            if self.parallel_mlp:
                found += self._dense_mlp(self.intermediate)
        else:
            found += self._dense_mlp(self.intermediate)
        return tuple(found)

    def _dense_mlp(self, f: int) -> list[Linear]:
        d = self.hidden
        return [Linear("gate_proj", d, f, "mlp_in", role="mlp"), Linear("up_proj", d, f, "mlp_in", role="mlp"),
                Linear("down_proj", f, d, "mlp_down", role="mlp")]

    def layer_linears(self) -> tuple[tuple[Linear, int], ...]:
        """Every kind of linear of the model with the number of blocks that hold it: the MoE
        blocks' linears, and in a mixed model the dense blocks' attention and MLP."""
        if not self.dense_blocks:
            return tuple((lin, self.layers) for lin in self.linears())
        moe = tuple((lin, self.moe_blocks) for lin in self.linears())
        attention = tuple((lin, self.dense_blocks) for lin in self.linears() if lin.role == "attention")
        dense = tuple((lin, self.dense_blocks) for lin in self._dense_mlp(self.dense_intermediate or self.intermediate))
        return moe + attention + dense

    def idle_expert_parameters(self) -> int:
        """Expert parameters of the whole model a token does not run through (all but its top-k)."""
        unused = sum((lin.in_features + (1 if self.mlp_bias else 0)) * lin.out_features * (lin.copies - lin.active)
                     * blocks for lin, blocks in self.layer_linears() if lin.fused)
        return unused

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
        linear = sum(lin.numel * blocks for lin, blocks in self.layer_linears())
        per_block = self.block_parameters() - sum(lin.numel for lin in self.linears())  # biases and norms
        return (self.embedding_parameters() + linear + self.layers * per_block
                + self.hidden + self.head_parameters())

    def active_parameter_count(self) -> int:
        """Parameters one token runs through (the published "active" count of a mixture of experts)."""
        return self.parameter_count() - self.idle_expert_parameters()


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
    # a config that gives its dense blocks their own width (intermediate_size_mlp) keeps a shared
    # expert of intermediate_size beside the routed ones in every MoE block
    if experts and not shared and raw.get("intermediate_size_mlp"):
        shared = intermediate
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
        experts_per_token=experts_per_token(raw) or (2 if experts else 0),
        expert_intermediate=expert_width,
        shared_expert_intermediate=shared,
        moe_layers=_moe_layers(raw, _need(facts.num_hidden_layers, "num_hidden_layers", facts)) if experts else 0,
        dense_intermediate=int(raw.get("intermediate_size_mlp") or 0),
        parallel_mlp=bool(experts and raw.get("enable_moe_block")),
        attention_bias=bool(raw.get("attention_bias") or raw.get("qkv_bias")),
        mlp_bias=bool(raw.get("mlp_bias")),
    )


def experts_per_token(raw: dict) -> int:
    """The routed top-k under the names configs give it (0 when none is given)."""
    for key in ("num_experts_per_tok", "top_k", "top_k_experts", "moe_topk"):
        if raw.get(key):
            return int(raw[key])
    return 0


def _moe_layers(raw: dict, layers: int) -> int:
    """How many blocks hold experts, from the keys configs of mixed dense/MoE models use."""
    if isinstance(raw.get("moe_layers"), list):
        return len(raw["moe_layers"])
    if raw.get("interleave_moe_layer_step"):  # every step-th block, the last of each group
        return layers // int(raw["interleave_moe_layer_step"])
    if raw.get("first_k_dense_replace"):  # the first k blocks are dense
        return layers - int(raw["first_k_dense_replace"])
    dense_only = set(raw.get("mlp_only_layers") or ())
    step = int(raw.get("decoder_sparse_step") or 1)
    return sum(1 for i in range(layers) if i not in dense_only and step > 0 and (i + 1) % step == 0)


def parameter_count(facts: ModelFacts) -> int:
    """All parameters of the model described by the facts (a tied head counted once)."""
    return shape_from_facts(facts).parameter_count()
