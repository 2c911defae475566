"""``framework eval``: the same held-out data scored before and after fine-tuning, side by side.

"Before" is the base model (the adapter disabled), "after" the trained run, so the table shows
what fine-tuning changed and nothing else.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Sequence

from framework.errors import ConfigError
from framework.hookdata import ChatOptions


def _adapter_off(model: Any) -> Any:
    return model.disable_adapter() if hasattr(model, "disable_adapter") else contextlib.nullcontext()


def evaluate_run(output_dir: Path, data: Sequence[str], *, generate_answers: bool = False, limit: int = 200) -> dict[str, tuple[float, float]]:
    from framework.data.pipeline import prepare_sft
    from framework.inference import generate, load_run, perplexity

    run = load_run(output_dir)
    if not (output_dir / "adapter_config.json").exists():
        raise ConfigError("eval compares base and adapter; this run saved a full model", where=str(output_dir))
    def render(messages: list[dict[str, Any]], tools: Any = None, extra: dict[str, Any] | None = None) -> Any:
        return run.render(messages, ChatOptions(False, tuple(sorted((extra or {}).items()))), tools)

    prepared = prepare_sft(list(data), run.tokenizer, render,
                           cutoff_len=int(run.record["config"]["data.cutoff_len"]["value"]), val_size=0.0,
                           max_samples=limit, features=run.features, renderer_name="the run's chat renderer")
    rows = prepared.train
    with _adapter_off(run.model):
        before = perplexity(run.model, rows)
    after = perplexity(run.model, rows)
    report = {"perplexity": (before, after)}
    if generate_answers:
        report.update(_generation_scores(run, list(data), limit))
    return report


def _generation_scores(run: Any, data: list[str], limit: int) -> dict[str, tuple[float, float]]:
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
    with _adapter_off(run.model):
        outputs["before"] = [generate(run, p, 128) for p in prompts]
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
