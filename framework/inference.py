"""After training: load a run's output again, merge an adapter, chat, evaluate.

A run's ``training_config.json`` records the base model and the plugin that rendered its
data, so these commands use the same template and stop tokens as training did.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from framework.errors import ConfigError, ModelError
from framework.hookdata import ChatOptions


@dataclass
class TrainedRun:
    """A loaded run output: model (adapter applied), tokenizer, renderer, stop tokens."""

    directory: Path
    record: dict[str, Any]
    model: Any
    tokenizer: Any
    render: Callable[[list[dict[str, str]], ChatOptions], Any]
    stop_ids: list[int]
    base_directory: Path
    features: Any = None  # the renderer's ChatFeatures: reasoning and tool content it renders


def read_record(output_dir: Path) -> dict[str, Any]:
    path = output_dir / "training_config.json"
    if not path.is_file():
        raise ConfigError("not a run output: training_config.json is missing", where=str(output_dir),
                          hint="pass the --output directory of a finished `framework run`")
    return json.loads(path.read_text(encoding="utf-8"))


def load_run(output_dir: Path, *, adapter: bool = True) -> TrainedRun:
    """Base model + adapter (or a full model) with the plugin that trained it."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from framework.facts import facts_from_config, read_chat_template, read_config
    from framework.plugins import make_plugin_host

    record = read_record(output_dir)
    base = Path(record["model"]["directory"])
    if record["model"].get("adapter_base"):  # hybrid: the adapter sits on the run's own full-phase model
        base = output_dir / record["model"]["adapter_base"]
    if not base.is_dir():
        raise ModelError("the base model of this run is gone", where=str(base),
                         hint="restore the base model directory or merge on the machine that trained it")
    host = make_plugin_host()
    facts = facts_from_config(read_config(base), record["model"]["name_or_path"], read_chat_template(base))
    selection = host.select(facts, forced=record["plugin"]["name"])
    # Render as training did: the recorded chat format (runs saved before it was recorded: the plugin's).
    chat_format = (record["plugin"].get("chat_format") or {}).get("format")
    family = host.family(selection, facts, chat_format=chat_format)
    tokenizer = AutoTokenizer.from_pretrained(output_dir)
    from framework.bottleneck import is_adapter_directory, load_adapters

    bottleneck = is_adapter_directory(output_dir)
    is_adapter = (output_dir / "adapter_config.json").exists()
    model_dir = base if (is_adapter or bottleneck) else output_dir
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    if len(tokenizer) > model.get_input_embeddings().weight.shape[0]:
        model.resize_token_embeddings(len(tokenizer))
    if is_adapter and adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, output_dir)
    if bottleneck and adapter:
        model = load_adapters(model, output_dir)
    model.eval()
    stop_tokens = record.get("fixes", {}).get("stop_tokens", [])
    stop_ids = [i for i in (tokenizer.convert_tokens_to_ids(t) for t in stop_tokens) if isinstance(i, int) and i >= 0]
    return TrainedRun(output_dir, record, model, tokenizer, family.chat_renderer(tokenizer), stop_ids, base,
                      family.chat_features(tokenizer))


def generate(run: TrainedRun, messages: list[dict[str, Any]], max_new_tokens: int = 128,
             tools: list[dict[str, Any]] | None = None) -> str:
    """Greedy reply to a conversation, prompted with the sample's tools as in training."""
    import torch

    text = run.render(messages, ChatOptions(add_generation_prompt=True), tools).text
    ids = run.tokenizer(text, add_special_tokens=False, return_tensors="pt")
    with torch.no_grad():
        out = run.model.generate(**ids, max_new_tokens=max_new_tokens, do_sample=False,
                                 eos_token_id=run.stop_ids or None, pad_token_id=run.tokenizer.pad_token_id)
    return run.tokenizer.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True).strip()


def merge(output_dir: Path, destination: Path | None = None) -> Path:
    """Merge a LoRA/DoRA adapter into its base and save bf16 safetensors loadable anywhere."""
    import torch

    from framework.bottleneck import refuse_merge

    refuse_merge(output_dir)
    if not (output_dir / "adapter_config.json").exists():
        raise ConfigError("this run saved a full model, there is no adapter to merge", where=str(output_dir))
    kind = prompt_learning_type(output_dir)
    if kind is not None:
        raise ConfigError(
            f"this run trained a {kind} adapter, which adds virtual tokens in front of every input instead of "
            f"changing weights, so there is nothing to merge into the base model",
            where=str(output_dir),
            hint="use it as it is: `framework chat` or `framework eval` on this directory, or "
                 "PeftModel.from_pretrained(base, OUTPUT) in your own code",
        )
    run = load_run(output_dir)
    destination = destination or output_dir / "merged"
    if destination.exists() and any(destination.iterdir()):
        raise ConfigError("the merge destination is not empty", where=str(destination),
                          hint="remove it or pass another --dest")
    merged = run.model.merge_and_unload()
    merged = merged.to(torch.bfloat16)
    merged.save_pretrained(destination, safe_serialization=True)
    run.tokenizer.save_pretrained(destination)
    if (output_dir / "generation_config.json").exists():
        (destination / "generation_config.json").write_text(
            (output_dir / "generation_config.json").read_text(encoding="utf-8"), encoding="utf-8")
    return destination


#: peft's prompt-learning adapter types: virtual tokens (or a key/value prefix) added in peft's forward.
PROMPT_LEARNING_TYPES = {"PREFIX_TUNING": "prefix-tuning", "PROMPT_TUNING": "prompt-tuning",
                         "P_TUNING": "P-tuning", "MULTITASK_PROMPT_TUNING": "multitask prompt-tuning"}


def prompt_learning_type(output_dir: Path) -> str | None:
    """The prompt-learning kind of the run's adapter (read from adapter_config.json), or None."""
    path = output_dir / "adapter_config.json"
    if not path.is_file():
        return None
    peft_type = str(json.loads(path.read_text(encoding="utf-8")).get("peft_type", "")).upper()
    return PROMPT_LEARNING_TYPES.get(peft_type)


def _adds_virtual_tokens(model: Any) -> bool:
    """A peft model whose active adapter is prompt learning (and is not disabled right now)."""
    config = getattr(model, "active_peft_config", None)
    if config is None or not getattr(config, "is_prompt_learning", False):
        return False
    return not getattr(model, "_adapters_disabled", False)  # inside disable_adapter() the base model runs


def perplexity(model: Any, rows: Any, batch: int = 8) -> float:
    """exp(mean token loss) over labelled tokens of tokenized rows."""
    import torch

    from framework.loss import chunked_causal_lm_loss

    total, count = 0.0, 0
    with torch.no_grad():
        for row in rows:
            ids = torch.tensor([row["input_ids"]])
            labels = torch.tensor([row["labels"]])
            n = int((labels[:, 1:] != -100).sum())
            if n == 0:
                continue
            if _adds_virtual_tokens(model):
                # the chunked loss calls the decoder directly and would skip the virtual tokens;
                # peft's forward prepends them (and ignores their labels)
                loss = model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=labels).loss
            else:
                loss = chunked_causal_lm_loss(model, {"input_ids": ids, "labels": labels})
            total += float(loss) * n
            count += n
    return math.exp(total / count) if count else float("nan")
