"""``framework eval``: the same held-out data scored before and after fine-tuning, side by side.

"Before" is the base model the run started from, "after" the trained run, so the table shows
what fine-tuning changed and nothing else. For an adapter on that base the adapter is switched
off; a full or freeze run (and hybrid, whose adapter sits on its own full-phase model) loads
the base model from the directory ``training_config.json`` records.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Sequence

from framework.hookdata import ChatOptions


def _adapter_off(model: Any) -> Any:
    return model.disable_adapter() if hasattr(model, "disable_adapter") else contextlib.nullcontext()


def _base_run(run: Any) -> Any:
    """The run as it was before training: ``run`` itself (its adapter is switched off while
    "before" is scored) or a copy holding the base model loaded from its directory."""
    import dataclasses

    import torch
    from transformers import AutoModelForCausalLM

    from framework.errors import ModelError

    on_base = (run.directory / "adapter_config.json").exists() and not run.record["model"].get("adapter_base")
    if on_base:
        return run
    base = Path(run.record["model"]["directory"])
    if not (base / "config.json").is_file():
        raise ModelError("the base model of this run is gone, so there is nothing to compare with", where=str(base),
                         hint="restore the base model directory, or evaluate on the machine that trained the run")
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    if len(run.tokenizer) > model.get_input_embeddings().weight.shape[0]:
        model.resize_token_embeddings(len(run.tokenizer))
    return dataclasses.replace(run, model=model.eval())


def _before(run: Any, base: Any) -> Any:
    """Where "before" runs: the adapter switched off, or nothing to switch (the base model)."""
    return _adapter_off(run.model) if base is run else contextlib.nullcontext()


def evaluate_run(output_dir: Path, data: Sequence[str], *, generate_answers: bool = False, limit: int = 200) -> dict[str, tuple[float, float]]:
    from framework.data.pipeline import prepare_sft
    from framework.inference import generate, load_run, perplexity

    run = load_run(output_dir)
    base = _base_run(run)
    def render(messages: list[dict[str, Any]], tools: Any = None, extra: dict[str, Any] | None = None) -> Any:
        return run.render(messages, ChatOptions(False, tuple(sorted((extra or {}).items()))), tools)

    prepared = prepare_sft(list(data), run.tokenizer, render,
                           cutoff_len=int(run.record["config"]["data.cutoff_len"]["value"]), val_size=0.0,
                           max_samples=limit, features=run.features, renderer_name="the run's chat renderer")
    rows = prepared.train
    with _before(run, base):
        before = perplexity(base.model, rows)
    after = perplexity(run.model, rows)
    report = {"perplexity": (before, after)}
    if generate_answers:
        report.update(_generation_scores(run, base, list(data), limit))
    return report


def _generation_scores(run: Any, base: Any, data: list[str], limit: int) -> dict[str, tuple[float, float]]:
    from framework.extras import require

    require("eval", asked_by="framework eval --generate")
    import sacrebleu
    from rouge_score import rouge_scorer

    from framework.data.formats import detect_format, to_examples
    from framework.data.records import read_records
    from framework.inference import generate

    records = []
    for path in data:
        records.extend(read_records(path))
    examples, _ = to_examples(records, detect_format(records))
    examples = examples[:limit]
    prompts = [list(e.messages[:-1]) for e in examples]
    references = [e.messages[-1]["content"] for e in examples]
    outputs: dict[str, list[str]] = {}
    with _before(run, base):
        outputs["before"] = [generate(base, p, 128) for p in prompts]
    outputs["after"] = [generate(run, p, 128) for p in prompts]
    scorer = rouge_scorer.RougeScorer(["rougeL"], tokenizer=None)
    scores = {}
    for phase, hyps in outputs.items():
        bleu = sacrebleu.corpus_bleu(hyps, [references], tokenize="zh" if _mostly_cjk(references) else "13a").score
        rouge = sum(scorer.score(r, h)["rougeL"].fmeasure for r, h in zip(references, hyps)) / max(1, len(hyps))
        scores[phase] = (bleu, rouge)
    return {"bleu": (scores["before"][0], scores["after"][0]), "rougeL": (scores["before"][1], scores["after"][1])}


def _mostly_cjk(texts: list[str]) -> bool:
    joined = "".join(texts)
    cjk = sum(1 for ch in joined if "\u4e00" <= ch <= "\u9fff")
    return cjk > 0.3 * max(1, len(joined))
