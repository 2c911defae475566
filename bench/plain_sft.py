"""The plain way to LoRA fine-tune, as tutorials write it: the baseline of bench/e2e_cpu.py.

transformers ``Trainer`` + peft LoRA, each sample tokenized as prompt + response with the
prompt's labels set to -100, ``DataCollatorForSeq2Seq`` padding every micro-batch to its
longest sample, and the model's own loss (full [tokens x vocab] logits, cross entropy over
them). Nothing from ``framework`` is imported, so what is measured is transformers + peft
alone. The chat format is the Llama 3 one the framework's llama3 plugin renders for alpaca
records (user turn = instruction, a newline and the input; no system turn), so both sides
train on the same token ids and labels (bench/e2e_cpu.py checks that).

    python bench/plain_sft.py --model DIR --data train.jsonl --output OUT [--cutoff-len 512]

Writes OUT/adapter_model.safetensors and OUT/plain_metrics.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

HEADER = "<|start_header_id|>{role}<|end_header_id|>\n\n"
EOT = "<|eot_id|>"
BOS = "<|begin_of_text|>"
LINEAR_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def prompt_and_response(record: dict[str, str]) -> tuple[str, str]:
    """The Llama 3 chat text of an alpaca record, split where the loss starts."""
    user = record["instruction"] + (f"\n{record['input']}" if record.get("input") else "")
    prompt = f"{BOS}{HEADER.format(role='user')}{user}{EOT}{HEADER.format(role='assistant')}"
    return prompt, record["output"] + EOT


def tokenize(record: dict[str, str], tokenizer: Any, cutoff_len: int) -> dict[str, list[int]]:
    """Tutorial-style: tokenize prompt and response, mask the prompt, cut at cutoff_len."""
    prompt, response = prompt_and_response(record)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    response_ids = tokenizer(response, add_special_tokens=False)["input_ids"]
    input_ids = (prompt_ids + response_ids)[:cutoff_len]
    labels = ([-100] * len(prompt_ids) + response_ids)[:cutoff_len]
    return {"input_ids": input_ids, "attention_mask": [1] * len(input_ids), "labels": labels}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--cutoff-len", type=int, default=512)
    parser.add_argument("--micro-batch", type=int, default=4)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--max-steps", type=int, default=-1)
    args = parser.parse_args()

    import torch
    from datasets import load_dataset
    from peft import LoraConfig, get_peft_model
    from transformers import (AutoModelForCausalLM, AutoTokenizer, DataCollatorForSeq2Seq, Trainer,
                              TrainingArguments)

    tokenizer = AutoTokenizer.from_pretrained(args.model)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token  # what most tutorials do
    dataset = load_dataset("json", data_files=args.data, split="train")
    dataset = dataset.map(lambda r: tokenize(r, tokenizer, args.cutoff_len), remove_columns=dataset.column_names)

    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, target_modules=LINEAR_MODULES,
                                             task_type="CAUSAL_LM"))
    training_args = TrainingArguments(
        output_dir=args.output,
        per_device_train_batch_size=args.micro_batch,
        num_train_epochs=args.epochs,
        max_steps=args.max_steps,
        learning_rate=args.lr,
        warmup_steps=0.1,
        lr_scheduler_type="cosine",
        weight_decay=0.01,
        max_grad_norm=1.0,
        logging_steps=5,
        seed=args.seed,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
    )
    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=dataset,
        data_collator=DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=-100),
    )
    started = time.perf_counter()
    result = trainer.train()
    train_seconds = time.perf_counter() - started
    model.save_pretrained(args.output)
    lengths = [len(ids) for ids in dataset["input_ids"]]
    if args.max_steps > 0:  # a partial epoch: the mean sample length times the samples seen
        tokens = int(sum(lengths) / len(lengths) * min(len(lengths), result.global_step * args.micro_batch))
    else:
        tokens = int(sum(lengths) * args.epochs)
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    Path(args.output, "plain_metrics.json").write_text(json.dumps({
        "train_tokens": tokens,
        "train_runtime_s": result.metrics["train_runtime"],
        "train_seconds": train_seconds,
        "tokens_per_second": tokens / result.metrics["train_runtime"],
        "steps": result.global_step,
        "train_loss_first": losses[0] if losses else None,
        "train_loss_last": losses[-1] if losses else None,
    }, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
