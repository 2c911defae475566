"""The plain data that hooks take and return.

Everything a family plugin sees or answers is defined here, so a plugin can be unit-tested
by building these objects by hand: no model, no download, no GPU. Models that are built once
per run (facts, findings, decisions) are pydantic models and are validated when a plugin
returns them; the per-sample chat types are frozen dataclasses because they are created
hundreds of thousands of times during preprocessing and pydantic's validation cost would
dominate the data pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Literal

from pydantic import BaseModel, ConfigDict, Field

Severity = Literal["info", "warning", "error"]
TrainOn = Literal["all_assistant", "last_assistant", "everything"]
Role = Literal["system", "user", "assistant", "tool"]
#: What a rendered segment holds, so the core can mask reasoning on request and `framework render`
#: can mark reasoning, tool calls and tool results apart from plain reply text.
SegmentKind = Literal["text", "reasoning", "tool_call", "tool_result", "tools"]
#: Who renders the chat: the selected plugin's own format, or the model's shipped template (a
#: family architecture fine-tuned into another chat format, e.g. a distill with its own markers).
ChatFormat = Literal["plugin", "shipped"]

#: One message of a conversation as every hook receives it, after the core's format conversion.
#: Keys (only ``role`` and ``content`` always present)::
#:
#:     role               "system" | "user" | "assistant" | "tool"
#:     content            str; "" for an assistant turn that only calls tools
#:     reasoning_content  assistant only: the chain of thought, without <think> tags (the key
#:                        transformers chat templates read; the core also accepts `reasoning`,
#:                        `thinking` and a leading <think>...</think> block in the data)
#:     tool_calls         assistant only: [{"id": str | None, "type": "function",
#:                        "function": {"name": str, "arguments": dict}}] (arguments parsed from
#:                        JSON when the data gives a string)
#:     tool_call_id, name tool only: which call this result answers, when the data says
Message = dict[str, Any]

#: The hook API version the core implements. Plugins declare the range they support with a
#: module-level ``FRAMEWORK_HOOK_API = ">=1,<2"`` in the module their entry point loads.
HOOK_API_VERSION = "1.3"


class _Plain(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelFacts(_Plain):
    """What the core knows about a model before loading any weight: config.json, normalised.

    Field names follow transformers' config attributes. ``None`` means the config does not
    say. ``raw`` keeps the whole config.json for facts this schema does not name (remote-code
    configs use their own keys). ``variant`` is filled in by the core after selection with the
    variant the winning plugin reported from ``match_model``.
    """

    name_or_path: str = Field(description="Hub id or local directory the config came from.")
    model_type: str = Field(description="config.json `model_type`.")
    architectures: tuple[str, ...] = Field(default=(), description="config.json `architectures`.")
    vocab_size: int | None = Field(default=None, description="Rows of the input embedding.")
    hidden_size: int | None = Field(default=None, description="Model width.")
    intermediate_size: int | None = Field(default=None, description="MLP width (per expert for MoE).")
    num_hidden_layers: int | None = Field(default=None, description="Decoder layers.")
    num_attention_heads: int | None = Field(default=None, description="Query heads.")
    num_key_value_heads: int | None = Field(default=None, description="Key/value heads (GQA/MQA).")
    head_dim: int | None = Field(
        default=None, description="Explicit head_dim from the config; None when implicit."
    )
    max_position_embeddings: int | None = Field(default=None, description="Native context length.")
    rope_theta: float | None = Field(default=None, description="RoPE base frequency.")
    rope_scaling: dict[str, Any] | None = Field(default=None, description="config rope_scaling.")
    sliding_window: int | None = Field(default=None, description="Sliding attention window.")
    use_sliding_window: bool | None = Field(
        default=None, description="Whether the sliding window is switched on (configs that have the flag)."
    )
    tie_word_embeddings: bool | None = Field(default=None, description="Input and output embedding shared.")
    num_experts: int | None = Field(default=None, description="MoE experts per layer; None when dense.")
    attn_logit_softcapping: float | None = Field(default=None, description="Attention soft-cap.")
    final_logit_softcapping: float | None = Field(default=None, description="Final logit soft-cap.")
    bos_token_id: int | None = Field(default=None, description="config bos_token_id.")
    eos_token_ids: tuple[int, ...] = Field(default=(), description="config eos_token_id as a tuple.")
    pad_token_id: int | None = Field(default=None, description="config pad_token_id.")
    requires_remote_code: bool = Field(
        default=False, description="The config names custom code (`auto_map`) and no transformers class."
    )
    text_config: dict[str, Any] | None = Field(
        default=None, description="Nested language-model config of a multimodal wrapper."
    )
    raw: dict[str, Any] = Field(default_factory=dict, description="The whole config.json.")
    variant: str | None = Field(default=None, description="Variant named by the selected plugin.")
    chat_template: str | None = Field(
        default=None,
        description="The chat template shipped in the model directory (tokenizer_config.json or "
        "chat_template.jinja); None when the model has no local files (offline hub id). Added in 1.2.",
    )
    chat_format: ChatFormat | None = Field(
        default=None, description="Who renders the chat, as the selected plugin decided (filled in by the core)."
    )

    @property
    def effective_head_dim(self) -> int | None:
        """Explicit head_dim when the config has one, else hidden/heads (never assume the latter)."""
        if self.head_dim:
            return self.head_dim
        if self.hidden_size and self.num_attention_heads:
            return self.hidden_size // self.num_attention_heads
        return None


class MatchResult(_Plain):
    """A plugin's claim on a model: higher score wins; ties are an error, never load-order luck."""

    score: int = Field(ge=1, description="How specifically the plugin recognises the config.")
    variant: str = Field(description="The variant recognised, e.g. a generation of the family.")
    reasons: tuple[str, ...] = Field(default=(), description="The config facts that decided it.")
    chat_format: ChatFormat = Field(
        default="plugin",
        description="'shipped' when the architecture is this family's but the shipped chat template is "
        "another format: the core then renders with that template and asks this plugin nothing about "
        "chat (render_chat, stop_tokens, chat_features). Added in 1.2.",
    )


class Fix(_Plain):
    """A fix the core applies for a finding. Every field is optional; the core reports what it did."""

    description: str = Field(description="What the fix does, shown to the user.")
    special_tokens: dict[str, str] = Field(
        default_factory=dict,
        description="Tokenizer special-token attributes to set, e.g. {'pad_token': '<pad>'}. A token "
        "not in the vocabulary is added and the embeddings are resized (the core says so).",
    )
    stop_tokens: tuple[str, ...] = Field(
        default=(), description="Tokens added to the stop list of evaluation and the saved generation config."
    )
    tokenizer_attributes: dict[str, Any] = Field(
        default_factory=dict, description="Other tokenizer attributes to set, e.g. padding_side."
    )
    reinit_token_ids: tuple[int, ...] = Field(
        default=(), description="Embedding rows to re-initialise to the mean of the trained rows."
    )


class Finding(_Plain):
    """One observation of a check. `error` findings stop the run unless their fix is applied."""

    code: str = Field(description="Stable kebab-case id, e.g. 'pad-equals-eos'.")
    severity: Severity = Field(description="info, warning or error.")
    message: str = Field(description="One line: what is wrong and why it matters.")
    fix: Fix | None = Field(default=None, description="What the core should do about it.")
    source: str | None = Field(default=None, description="Where the knowledge comes from (URL or doc).")


class LoraTargets(_Plain):
    """Which modules an adapter method wraps, for this architecture."""

    target_modules: tuple[str, ...] | str = Field(
        description="Module-name suffixes, or one regex over full module names (peft semantics)."
    )
    modules_to_save: tuple[str, ...] = Field(
        default=(), description="Modules trained in full and saved with the adapter (embeddings, head)."
    )
    exclude_modules: tuple[str, ...] = Field(default=(), description="Names never wrapped (routers...).")
    target_parameters: tuple[str, ...] = Field(
        default=(), description="Parameter names (not modules) to adapt, e.g. fused MoE expert weights (peft "
        "`target_parameters`); added in hook API 1.1."
    )
    ensure_weight_tying: bool = Field(
        default=False, description="Keep tied input/output embeddings tied when one is in modules_to_save."
    )


class RopeDecision(_Plain):
    """How the model reaches a requested sequence length."""

    action: Literal["native", "scale", "refuse"] = Field(
        description="native: fits already; scale: apply rope_scaling; refuse: no safe way."
    )
    reason: str = Field(description="Why, in one sentence, shown by `plan`.")
    rope_scaling: dict[str, Any] | None = Field(
        default=None, description="The rope_scaling dict to set on the config (action 'scale')."
    )
    max_position_embeddings: int | None = Field(
        default=None, description="The new max_position_embeddings (action 'scale')."
    )
    warnings: tuple[str, ...] = Field(default=(), description="Advice printed with the decision.")


class HardwareFacts(_Plain):
    """The machine the run is planned for, detected by the core."""

    device: Literal["cuda", "mps", "cpu"] = Field(description="Accelerator kind.")
    bf16_supported: bool = Field(description="bfloat16 compute is supported.")
    flash_attn_version: str | None = Field(default=None, description="Installed flash-attn, if importable.")
    gpu_name: str | None = Field(default=None, description="Accelerator name.")
    gpu_memory_bytes: int | None = Field(default=None, description="Accelerator memory.")
    gpu_count: int = Field(default=0, description="Visible accelerators.")
    cpu_bf16: str | None = Field(default=None, description="The CPU's native bf16 matmul feature (amx_bf16, "
                                 "avx512_bf16), if any.")


class LoadSettings(_Plain):
    """Constraints on how this architecture is loaded and trained."""

    attn_implementations: tuple[str, ...] = Field(
        default=("flash_attention_2", "sdpa", "eager"),
        description="Allowed attention implementations in order of preference; the core takes the "
        "first one the machine has.",
    )
    forbidden_dtypes: tuple[Literal["fp16", "bf16", "fp32"], ...] = Field(
        default=(), description="Compute dtypes this family must not train in."
    )
    trust_remote_code: bool = Field(default=False, description="The model only loads with remote code.")
    supports_packing: bool = Field(
        default=True, description="Padding-free packing (restarted position_ids) is correct for it."
    )
    train_language_model_only: bool = Field(
        default=False, description="A multimodal wrapper: only its language model is trained."
    )
    notes: tuple[str, ...] = Field(default=(), description="Reasons for the choices above, shown by `plan`.")


class ChatFeatures(_Plain):
    """What a renderer can put in a sample beyond plain text; data it cannot render is refused, never dropped."""

    reasoning: bool = Field(default=False, description="Renders assistant `reasoning_content`.")
    tools: bool = Field(default=False, description="Renders tool declarations, `tool_calls` and `tool` messages.")
    notes: tuple[str, ...] = Field(default=(), description="How they are rendered, shown by `plan` and `check`.")


class DemoModel(_Plain):
    """A tiny model a plugin can build offline so `framework run` with no arguments has something to train."""

    name: str = Field(description="Short name shown to the user.")
    path: str = Field(description="Local directory with config.json, weights and tokenizer.")
    identity_prompt: str | None = Field(default=None, description="Prompt asked before and after training.")


@dataclass(frozen=True, slots=True)
class Segment:
    """A piece of rendered chat text.

    ``trainable`` marks text that carries loss under the default policy (assistant replies and
    their end-of-turn marker). ``message_index`` is the index of the message the text belongs
    to (None for template text between messages) so the core can apply the `last_assistant`
    policy. ``from_data`` marks text copied from the user's data: the core tokenizes control-
    token look-alikes inside it as plain text. ``kind`` (hook API 1.2) says whether the text is
    reasoning (with its think markers), a tool call, a tool result or tool declarations, so the
    core can mask reasoning when asked and ``framework render`` can mark each apart.
    """

    text: str
    trainable: bool = False
    message_index: int | None = None
    from_data: bool = False
    kind: SegmentKind = "text"


@dataclass(frozen=True, slots=True)
class RenderedChat:
    """A conversation rendered exactly as the family's official template would render it."""

    segments: tuple[Segment, ...]

    @property
    def text(self) -> str:
        """The full rendered string (what the official template produces)."""
        return "".join(s.text for s in self.segments)


@dataclass(frozen=True, slots=True)
class ChatOptions:
    """How to render: inference prompt or training sample."""

    add_generation_prompt: bool = False
    extra: tuple[tuple[str, Any], ...] = ()

    def get(self, key: str, default: Any = None) -> Any:
        """Look up a template-specific option (e.g. 'date_string', 'enable_thinking')."""
        return dict(self.extra).get(key, default)


@dataclass(frozen=True)
class RewardFunction:
    """A named reward for online RL (``--stage grpo``), contributed by ``reward_functions`` (API 1.3).

    ``function`` is called by TRL's GRPOTrainer with keyword arguments ``prompts`` (the rendered
    prompt strings), ``completions`` (the generated strings), ``completion_ids`` and one list per
    extra data column (``answer``, ``solution``, ...), each as long as ``completions``. It returns
    one float per completion (``None``: no opinion on that one). Anything else is reported as a
    fault of the plugin, naming it and the reward.
    """

    function: Callable[..., list[float | None]]
    description: str = ""
    #: Reference columns the reward reads: at least one of them must be in the data (checked
    #: before training). Empty: it reads the completion alone.
    columns: tuple[str, ...] = ()
