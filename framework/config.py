"""The configuration of one run, and where each value came from.

Values come from layers, in increasing precedence: the core defaults declared below, the
selected family plugin's defaults (``default_hyperparameters``), the memory planner's choice
(``--gpu``, when no method is given), the demo run's settings (no model given), the user's YAML
file, and the command line. ``resolve`` merges them into one validated ``RunConfig`` and a provenance map
(dotted key -> source) that ``framework plan`` prints and ``training_config.json`` keeps, so a
user can always tell whether a learning rate is ours, the family's or theirs.

Every section forbids unknown keys and every field has a description: the descriptions are the
documentation of the config file.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Iterable, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from framework.errors import ConfigError

Method = Literal[
    "full", "freeze", "lora", "dora", "rslora", "qlora", "qlora8", "prefix", "prompt", "ptuning", "hybrid", "adapter"
]
Stage = Literal["sft", "pt", "dpo", "grpo"]
ADAPTER_METHODS = frozenset({"lora", "dora", "rslora", "qlora", "qlora8", "hybrid"})
PROMPT_METHODS = frozenset({"prefix", "prompt", "ptuning"})


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    @model_validator(mode="before")
    @classmethod
    def _switch_words(cls, data: Any) -> Any:
        """YAML reads ``off``/``on`` (and ``no``/``yes``) as booleans, in a config file and in
        ``--set data.dedupe=off`` alike: a key whose values are words gets its word back."""
        if not isinstance(data, dict):
            return data
        out = dict(data)
        for name, value in data.items():
            field = cls.model_fields.get(name)
            if field is not None and isinstance(value, bool):
                word = "on" if value else "off"
                if word in allowed_values(field.annotation):
                    out[name] = word
        return out


class ModelSection(_Section):
    name_or_path: str | None = Field(
        default=None, description="Local model directory or hub id; empty trains the bundled demo model."
    )
    plugin: str | None = Field(default=None, description="Force this family plugin instead of matching.")
    trust_remote_code: bool = Field(
        default=False, description="Allow a model's own Python code to run (off: such models are refused)."
    )
    allow_pickle: bool = Field(
        default=False, description="Allow pickle-based weight files (.bin); off means safetensors only."
    )
    dtype: Literal["auto", "bf16", "fp16", "fp32"] = Field(
        default="auto", description="Compute dtype; auto picks bf16 where supported, fp32 on CPU."
    )
    attn_implementation: Literal["auto", "flash_attention_2", "sdpa", "eager"] = Field(
        default="auto", description="Attention kernel; auto takes the plugin's first choice the machine has."
    )


class DataSection(_Section):
    paths: list[str] = Field(default_factory=list, description="Data files or directories; empty uses the bundled example.")
    format: Literal["auto", "alpaca", "sharegpt", "messages", "preference", "text"] = Field(
        default="auto", description="Data format; auto detects it from the keys of the records."
    )
    mix_weights: list[float] | None = Field(default=None, description="Sampling weight per data path.")
    cutoff_len: int = Field(default=1024, ge=8, description="Longest sample, in tokens.")
    truncation: Literal["drop", "truncate"] = Field(
        default="drop", description="What to do with a sample longer than cutoff_len."
    )
    template: Literal["auto", "plugin", "shipped"] = Field(
        default="auto",
        description="Who renders the chat: auto (the plugin decides from the model's shipped template), plugin "
                    "(the family plugin's format), shipped (the template in the model directory).",
    )
    train_on: Literal["all_assistant", "last_assistant", "everything"] = Field(
        default="all_assistant", description="Which tokens carry loss."
    )
    train_on_reasoning: bool = Field(
        default=True,
        description="Train the reasoning (think block) of each trained reply; false masks it and trains the "
        "answer, tool calls and end-of-turn only (DPO always compares whole replies).",
    )
    packing: bool = Field(default=True, description="Padding-free packing with restarted position_ids.")
    seq_schedule: str | None = Field(
        default=None, description="Progressive max length, e.g. '512:0.3,1024:0.6,2048:1.0'."
    )
    val_size: float = Field(default=0.1, ge=0.0, lt=1.0, description="Share of samples held out for validation.")
    max_samples: int | None = Field(
        default=None, ge=1,
        description="Use at most this many samples in all: the first ones of each file; several --data paths share "
                    "them by data.mix_weights (by their sizes without weights).",
    )
    strict: bool = Field(default=False, description="Fail on the first bad sample instead of dropping it.")
    dedupe: Literal["near", "exact", "off"] = Field(
        default="exact",
        description="Duplicate samples within one source: near (drop exact and near duplicates), exact (drop exact "
                    "duplicates; near ones are reported and kept) or off (keep all). Repeats across sources are "
                    "kept: they are the mixture's weighting.",
    )
    allow_special_in_data: bool = Field(
        default=False, description="Parse control-token text inside data as control tokens (off: plain text)."
    )
    task_system_prompts: dict[str, str] | None = Field(
        default=None, description="System prompt per value of a record's `task` field."
    )
    overwrite_cache: bool = Field(default=False, description="Rebuild the preprocessing cache.")
    num_proc: int | None = Field(
        default=None, ge=1,
        description="Processes for preprocessing (.jsonl data: each takes a run of lines from JSON to tokens). "
                    "Unset: with the tiktoken encoder (data.fast_encoder) one per 5,000 samples up to the CPU cores "
                    "(tiktoken runs on one core), else 1 (the tokenizers backend already uses every core).",
    )
    fast_encoder: Literal["auto", "off"] = Field(
        default="auto",
        description="Tokenize SFT data of 10,000 samples or more with tiktoken when the tokenizer is a byte-level "
                    "BPE whose merges follow its ranks and tiktoken gives the same ids and labels on probes and the "
                    "first 512 samples (auto; the data report names the encoder), or always with the tokenizer's own "
                    "backend (off).",
    )


class LoraSection(_Section):
    r: int = Field(default=8, ge=1, description="LoRA rank.")
    alpha: float = Field(default=16, gt=0, description="LoRA scaling numerator (scale = alpha / r).")
    dropout: float = Field(default=0.05, ge=0.0, lt=1.0, description="Dropout on the LoRA input.")
    fast_dropout: Literal["auto", "off"] = Field(
        default="auto", description="LoRA dropout masks on the CPU from a fraction of torch's random draws (only "
        "the dropped positions up to lora.dropout 1/8, else 16-bit slices of 64-bit draws, drop probability within "
        "7.6e-6): auto on CPU runs (every stage, not the hybrid schedule); off: torch's dropout."
    )
    target_modules: list[str] | None = Field(
        default=None, description="Module-name suffixes to wrap; empty uses the plugin's targets."
    )
    train_embeddings: bool = Field(
        default=False, description="Also train embeddings and output head in full (saved with the adapter)."
    )


class FreezeSection(_Section):
    trainable_layers: int = Field(default=2, ge=1, description="Top decoder layers trained by `freeze`.")
    trainable_modules: list[str] | None = Field(
        default=None, description="Name fragments of modules trained by `freeze`, instead of top layers."
    )


class AdapterSection(_Section):
    """Bottleneck adapters (``--method adapter``; framework/bottleneck.py has the sources)."""

    dim: int = Field(default=64, ge=1, description="Bottleneck size of each adapter (seed 001 §2: 64).")
    placement: Literal["both", "attention", "mlp"] = Field(
        default="both",
        description="Where adapters go in each decoder layer: after attention and MLP (both, Houlsby et al. 2019) "
                    "or after the MLP only (mlp, Pfeiffer et al. 2020).",
    )
    nonlinearity: Literal["relu", "gelu", "silu", "tanh"] = Field(
        default="relu", description="Activation between the down- and up-projection (seed 001 §2: ReLU)."
    )
    dropout: float = Field(default=0.1, ge=0.0, lt=1.0, description="Dropout inside each adapter (seed 001 §2: 0.1).")


class UnfreezeSection(_Section):
    schedule: str | None = Field(
        default=None,
        description="Progressive unfreezing of a full run, top-down: 'layers:when' pairs, when a fraction of "
                    "training (<1) or a step (>=1), e.g. '2:0,4:0.25,all:0.5'; empty trains every layer from the start.",
    )


class HybridSection(_Section):
    switch_fraction: float = Field(
        default=0.2, gt=0.0, lt=1.0, description="Share of steps trained in full before switching to LoRA."
    )


class PromptSection(_Section):
    num_virtual_tokens: int = Field(default=16, ge=1, description="Virtual tokens of prefix/prompt/P-tuning.")


class DpoSection(_Section):
    beta: float = Field(default=0.1, gt=0.0, description="DPO temperature.")


class GrpoSection(_Section):
    """Online RL on verifiable rewards through TRL's GRPOTrainer; TRL's names and defaults unless said."""

    rewards: list[str] = Field(
        default_factory=list,
        description="Rewards as NAME[:weight] (`framework plugins` lists them; module:function runs your own); "
        "--reward adds one.",
    )
    num_generations: int = Field(default=4, ge=2, description="Completions sampled per prompt (the group).")
    max_completion_length: int = Field(default=256, ge=1, description="Longest completion, in tokens.")
    beta: float = Field(
        default=0.0, ge=0.0, description="KL coefficient; 0 loads no reference model (TRL's default since 0.19)."
    )
    epsilon: float = Field(default=0.2, gt=0.0, description="Lower (and upper, unless epsilon_high) clip range.")
    epsilon_high: float | None = Field(default=None, gt=0.0, description="Upper clip range (DAPO's clip-higher).")
    loss_type: Literal["grpo", "dr_grpo", "dapo", "bnpo", "cispo", "sapo"] = Field(
        default="dapo", description="How token losses are aggregated (TRL's loss_type; dapo is TRL's default)."
    )
    scale_rewards: Literal["group", "batch", "none"] = Field(
        default="group", description="Divide advantages by the reward std of the group, the batch, or not at all."
    )
    num_iterations: int = Field(default=1, ge=1, description="Optimisation passes per generated batch (mu).")
    temperature: float = Field(default=1.0, gt=0.0, description="Sampling temperature of the completions.")
    top_p: float = Field(default=1.0, gt=0.0, le=1.0, description="Nucleus sampling of the completions.")
    generation: Literal["auto", "hf", "vllm"] = Field(
        default="auto", description="Who generates: vllm (colocated, CUDA), hf (transformers generate); auto takes "
        "vllm on CUDA when installed."
    )
    reasoning_tags: list[str] | None = Field(
        default=None, description="Opening and closing reasoning markers for the format reward; empty: the family's "
        "template decides (<think>, </think> when it shows none)."
    )
    length_target: int = Field(default=64, ge=1, description="Completion length in tokens the length reward aims at.")
    log_completions_steps: int = Field(
        default=10, ge=1, description="Write sample completions with their rewards to completions.jsonl every N steps."
    )


class TrainingSection(_Section):
    learning_rate: float = Field(default=1e-4, gt=0.0, description="Peak learning rate.")
    epochs: float = Field(default=3.0, gt=0.0, description="Passes over the training data.")
    max_steps: int = Field(default=-1, description="Stop after this many optimizer steps (-1: use epochs).")
    micro_batch_size: int = Field(default=4, ge=1, description="Samples per device per forward pass.")
    grad_accum: int = Field(default=1, ge=1, description="Micro-batches per optimizer step.")
    warmup: float = Field(default=0.05, ge=0.0, description="Warm-up: a fraction of steps (<1) or a step count.")
    lr_scheduler: Literal["cosine", "linear", "constant", "constant_with_warmup"] = Field(
        default="cosine", description="Learning-rate schedule after warm-up."
    )
    weight_decay: float = Field(default=0.0, ge=0.0, description="AdamW weight decay.")
    max_grad_norm: float = Field(default=1.0, ge=0.0, description="Gradient clipping norm (0 disables).")
    optim: str = Field(
        default="adamw_torch_fused",
        description="transformers optimizer name (fused AdamW avoids a state-sized scratch copy per step), "
        "e.g. paged_adamw_8bit.",
    )
    seed: int = Field(default=42, description="Seed for weights of new modules, shuffling and dropout.")
    gradient_checkpointing: bool = Field(default=False, description="Recompute activations to save memory.")
    chunked_loss: bool = Field(
        default=True, description="Compute logits only at labelled positions, in chunks (memory-lean loss)."
    )
    loss_chunk_size: int = Field(default=1024, ge=1, description="Labelled positions per logits chunk.")
    cpu_bf16_head: Literal["auto", "on", "off"] = Field(
        default="auto", description="A frozen output head's loss on the CPU with bf16 GEMM operands (fp32 "
        "accumulation, LoRA weights and optimizer state stay fp32): auto where the CPU multiplies bf16 "
        "natively (AMX, AVX512-BF16); off: the exact fp32 loss."
    )
    router_aux_loss_coef: float | None = Field(
        default=None, ge=0.0, description="MoE router load-balancing loss added to the training loss: its "
        "coefficient; empty: the model config's router_aux_loss_coef; 0 leaves the loss out."
    )
    logging_steps: int = Field(default=5, ge=1, description="Log every N optimizer steps.")
    eval_steps: int | None = Field(default=None, ge=1, description="Evaluate every N steps; empty: once per epoch.")
    save_steps: int | None = Field(default=None, ge=1, description="Checkpoint every N steps; empty: once per epoch.")
    save_total_limit: int = Field(default=2, ge=1, description="Checkpoints kept (the best is always kept).")
    early_stopping_patience: int | None = Field(
        default=None, ge=1, description="Stop after this many evaluations without improvement."
    )
    early_stopping_threshold: float = Field(default=0.0, ge=0.0, description="Smallest improvement that counts.")
    report_to: list[str] = Field(default_factory=lambda: ["tensorboard"], description="Loggers: tensorboard, wandb, mlflow.")
    torch_compile: bool = Field(default=False, description="Compile the model with torch.compile.")
    liger_kernels: bool = Field(default=False, description="Use Liger fused kernels when installed (CUDA).")


class OutputSection(_Section):
    dir: str | None = Field(default=None, description="Output directory; empty: runs/<model>-<method>-<time>.")
    overwrite: bool = Field(default=False, description="Replace an output directory that holds a run.")
    resume: bool = Field(default=False, description="Continue from the last checkpoint in the output directory.")


class PlanSection(_Section):
    gpu: str | None = Field(default=None, description="Plan for this accelerator memory, e.g. '24GB'.")


class DistributedSection(_Section):
    strategy: Literal["auto", "ddp", "zero2", "zero3", "zero3-offload", "fsdp"] = Field(
        default="auto",
        description="Multi-GPU strategy: ddp, zero2, zero3, zero3-offload (DeepSpeed) or fsdp; auto lets the "
                    "memory planner pick the first that fits (ddp on CPU).",
    )
    nproc: int = Field(
        default=1, ge=1, description="Processes (one per GPU) on each machine; above 1 `run` relaunches under torchrun."
    )
    nnodes: int = Field(default=1, ge=1, description="Machines taking part in the run.")
    node_rank: int = Field(default=0, ge=0, description="This machine's index among nnodes (0 hosts the rendezvous).")
    master_addr: str | None = Field(
        default=None, description="Address of machine 0; required with nnodes > 1 (one machine: localhost)."
    )
    master_port: int | None = Field(
        default=None, ge=1, le=65535,
        description="Rendezvous port on machine 0; empty: a free port on one machine, 29500 across machines.",
    )


class RunConfig(_Section):
    """A whole run. Sections mirror the stages of a run."""

    method: Method = Field(default="lora", description="Training method.")
    stage: Stage = Field(
        default="sft", description="sft (instructions), pt (raw text), dpo (preferences) or grpo (online RL on rewards)."
    )
    model: ModelSection = Field(default_factory=ModelSection, description="Which model and how to load it.")
    data: DataSection = Field(default_factory=DataSection, description="Which data and how to prepare it.")
    lora: LoraSection = Field(default_factory=LoraSection, description="Adapter settings.")
    freeze: FreezeSection = Field(default_factory=FreezeSection, description="Partial fine-tuning settings.")
    adapter: AdapterSection = Field(default_factory=AdapterSection, description="Bottleneck adapter settings.")
    unfreeze: UnfreezeSection = Field(default_factory=UnfreezeSection, description="Progressive unfreezing settings.")
    hybrid: HybridSection = Field(default_factory=HybridSection, description="Full-then-LoRA settings.")
    prompt: PromptSection = Field(default_factory=PromptSection, description="Prefix/prompt tuning settings.")
    dpo: DpoSection = Field(default_factory=DpoSection, description="Preference training settings.")
    grpo: GrpoSection = Field(default_factory=GrpoSection, description="Online RL (GRPO) settings.")
    training: TrainingSection = Field(default_factory=TrainingSection, description="Optimisation settings.")
    output: OutputSection = Field(default_factory=OutputSection, description="Where results go.")
    plan: PlanSection = Field(default_factory=PlanSection, description="Planning settings.")
    distributed: DistributedSection = Field(
        default_factory=DistributedSection, description="Several GPUs or machines: launcher and sharding strategy."
    )


# ──────────────────────────────────────────────────────────────────────────────────────────
# Dotted keys
# ──────────────────────────────────────────────────────────────────────────────────────────


def _walk(model: type[BaseModel], prefix: str = "") -> Iterable[tuple[str, Any]]:
    for name, field in model.model_fields.items():
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            yield from _walk(ann, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", field


def valid_keys() -> list[str]:
    """Every dotted key a config file, ``--set`` or a plugin default may name."""
    return [key for key, _ in _walk(RunConfig)]


def describe_keys() -> dict[str, str]:
    """Dotted key -> description, for ``framework plan --keys`` and the docs.

    An enumerated key ends with its allowed values, so a user finds them before the error
    for a wrong one does.
    """
    out = {}
    for key, field in _walk(RunConfig):
        text = field.description or ""
        choices = allowed_values(field.annotation)
        if choices:
            text = f"{text.rstrip()} One of: {', '.join(choices)}.".lstrip()
        out[key] = text
    return out


def allowed_values(annotation: Any) -> list[str]:
    """The values of a ``Literal`` annotation (also inside ``X | None`` or ``list[...]``)."""
    import typing

    if typing.get_origin(annotation) is typing.Literal:
        return [str(v) for v in typing.get_args(annotation)]
    values: list[str] = []
    for inner in typing.get_args(annotation):
        values += [v for v in allowed_values(inner) if v not in values]
    return values


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mapping -> dotted keys; sections are mappings, everything else is a value."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and dotted in _SECTIONS:
            flat.update(flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """Dotted keys -> nested sections, as a run YAML writes them (the inverse of ``flatten``)."""
    tree: dict[str, Any] = {}
    for dotted, value in flat.items():
        *parents, leaf = dotted.split(".")
        node = tree
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return tree


_SECTIONS = frozenset(
    name for name, f in RunConfig.model_fields.items()
    if isinstance(f.annotation, type) and issubclass(f.annotation, BaseModel)
)


def _did_you_mean(key: str) -> str:
    close = difflib.get_close_matches(key, valid_keys(), n=1, cutoff=0.6)
    if not close:
        leaf = key.rsplit(".", 1)[-1]
        close = [k for k in valid_keys() if k.rsplit(".", 1)[-1] == leaf][:1]
    return f"did you mean '{close[0]}'?" if close else "see `framework plan --keys` for the valid keys"


# ──────────────────────────────────────────────────────────────────────────────────────────
# Layers and resolution
# ──────────────────────────────────────────────────────────────────────────────────────────


class Layer:
    """One source of settings: dotted keys with a label such as ``plugin:<name>`` or ``cli``."""

    def __init__(self, source: str, values: Mapping[str, Any], where: Mapping[str, str] | None = None) -> None:
        self.source = source
        self.values = dict(values)
        self.where = dict(where or {})

    def location(self, key: str) -> str:
        return self.where.get(key, self.source)


def load_yaml_layer(path: str | Path) -> Layer:
    """Read a YAML config file as a layer; each key remembers its file:line."""
    import yaml

    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"config file {file} does not exist", hint="pass the path of a YAML file")
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file is not UTF-8 text ({exc.reason})", where=str(file)) from None
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{file}:{mark.line + 1}:{mark.column + 1}" if mark else str(file)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"invalid YAML: {problem}", where=where, hint="fix the syntax at that line") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("a config file must be a mapping of sections", where=f"{file}:1")
    lines = _key_lines(node) if node is not None else {}
    flat = flatten(data)
    return Layer(f"file:{file.name}", flat, {k: f"{file}:{lines.get(k, 1)}" for k in flat})


def _key_lines(node: Any, prefix: str = "") -> dict[str, int]:
    import yaml

    lines: dict[str, int] = {}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            dotted = f"{prefix}{key_node.value}"
            lines[dotted] = key_node.start_mark.line + 1
            if isinstance(value_node, yaml.MappingNode) and dotted in _SECTIONS:
                lines.update(_key_lines(value_node, dotted + "."))
    return lines


def parse_set(assignments: Iterable[str]) -> dict[str, Any]:
    """``--set key=value`` pairs; values are parsed as YAML scalars (``3e-4``, ``true``, ``[a, b]``)."""
    import yaml

    out: dict[str, Any] = {}
    for item in assignments:
        if "=" not in item:
            raise ConfigError(f"--set expects key=value, got '{item}'", hint="e.g. --set training.learning_rate=2e-4")
        key, raw = item.split("=", 1)
        try:
            out[key.strip()] = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError:
            out[key.strip()] = raw
    return out


class Resolved:
    """A validated config with the source of every value."""

    def __init__(self, config: RunConfig, sources: dict[str, str]) -> None:
        self.config = config
        self.sources = sources

    def items(self) -> list[tuple[str, Any, str]]:
        """(dotted key, value, source) for every setting, in schema order."""
        flat = flatten(self.config.model_dump())
        return [(key, flat[key], self.sources.get(key, "core")) for key in valid_keys()]

    def to_json(self) -> dict[str, Any]:
        return {key: {"value": value, "source": source} for key, value, source in self.items()}


def resolve(layers: Iterable[Layer]) -> Resolved:
    """Merge layers (lowest precedence first) and validate; every problem is reported at once."""
    merged: dict[str, Any] = {}
    sources: dict[str, str] = {}
    where: dict[str, str] = {}
    problems: list[str] = []
    known = set(valid_keys())
    for layer in layers:
        for key, value in layer.values.items():
            if key not in known:
                problems.append(f"{layer.location(key)}: unknown key '{key}' ({_did_you_mean(key)})")
                continue
            merged[key] = value
            sources[key] = layer.source
            where[key] = layer.location(key)
    try:
        config = RunConfig.model_validate(nest(merged))
    except ValidationError as exc:
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"])
            value = merged.get(key, err.get("input"))
            problems.append(f"{where.get(key, 'config')}: {key}={value!r}: {err['msg'].lower()}")
        config = None
    if problems:
        raise ConfigError(
            f"{len(problems)} config problem{'s' if len(problems) > 1 else ''}: " + "; ".join(problems),
            hint="fix the values named above",
        )
    assert config is not None
    return Resolved(config, sources)


def core_layer() -> Layer:
    """The core defaults as a layer (so they show up with source ``core``)."""
    return Layer("core", flatten(RunConfig().model_dump()))
