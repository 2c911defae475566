"""``framework data score``: per-sample quality and dataset diversity (seed 004, LIMA).

One concern per module:

==================  ============================================================================
``samples``         the data read by the training pipeline's readers; prompt rendered with the
                    family's template, reply text, the record kept for the filtered copy
``reply_loss``      the base model's loss of each reply with and without its instruction
                    (perplexity, instruction-following difficulty), in sorted padded batches
``text_signals``    language mix, garbling, repetition and length, from the text alone
``diversity``       near-duplicate clusters (MinHash + Jaccard) and topic clusters (n-gram TF-IDF
                    k-means) with per-cluster counts
``scoring``         the signals combined into one score, and the reasons a sample scores low
``report``          scores.jsonl, report.json, histograms.png, the filtered copy with provenance
==================  ============================================================================

``score_data`` is the library entry point (tests, scripts); ``score_command`` the CLI's.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence


@dataclass
class ScoreResult:
    scores: list[Any]
    report: dict[str, Any]
    output_dir: Path
    filtered: Path | None = None
    unread: list[Any] = field(default_factory=list)


def _plan(model: str, data: Sequence[str], cutoff_len: int | None, trust_remote_code: bool, host: Any) -> Any:
    from framework.run_plan import make_plan

    if cutoff_len is None:  # the run's default, within the model's native context
        from framework.config import core_layer
        from framework.facts import facts_from_config
        from framework.model_source import resolve_model

        source = resolve_model(model, need_weights=False)
        native = facts_from_config(source.config, source.name_or_path, None).max_position_embeddings
        cutoff_len = min(core_layer().values.get("data.cutoff_len") or 1024, native or 1024)
    args = argparse.Namespace(config=None, model=model, data=list(data), cutoff_len=cutoff_len,
                              trust_remote_code=trust_remote_code)
    return make_plan(args, host, need_weights=True)


def _load_model(plan: Any) -> Any:
    import torch
    from transformers import AutoModelForCausalLM

    cuda = torch.cuda.is_available()
    model = AutoModelForCausalLM.from_pretrained(plan.source.directory, dtype=torch.bfloat16 if cuda else torch.float32,
                                                 trust_remote_code=plan.config.model.trust_remote_code)
    return model.to("cuda" if cuda else "cpu").eval()


def score_data(model: str, data: Sequence[str], *, output_dir: Path, host: Any, batch_size: int = 8,
               cutoff_len: int | None = None, keep: str | None = None, min_score: float | None = None,
               trust_remote_code: bool = False, say: Callable[[str], None] = lambda _: None) -> ScoreResult:
    """Score every sample, write the report files, and the filtered copy when asked."""
    from framework.data_score.diversity import near_duplicate_clusters, topic_clusters
    from framework.data_score.reply_loss import reply_losses
    from framework.data_score.report import histograms, kept_indices, quantiles, write_filtered, write_scores
    from framework.data_score.samples import read_samples
    from framework.data_score.scoring import score_sample
    from framework.data_score.text_signals import text_signals
    from framework.training.inputs import fixed_tokenizer, renderer

    if keep is not None or min_score is not None:
        kept_indices([], keep, None)  # a malformed --keep is refused before the model loads
    plan = _plan(model, data, cutoff_len, trust_remote_code, host)
    cutoff_len = plan.config.data.cutoff_len
    tokenizer, _ = fixed_tokenizer(plan)
    samples, unread = read_samples(plan.data_paths, renderer(plan, tokenizer, generation=True))
    if unread:
        first = unread[0]
        say(f"warning: {len(unread)} sample(s) could not be read and are not scored "
            f"(first {first.source}:{first.line}: {first.message})")
    say(f"scoring {len(samples)} samples with {plan.facts.name_or_path} (plugin {plan.selection.info.label()})")
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    net = _load_model(plan)
    started = time.perf_counter()
    losses = reply_losses(net, tokenizer, [s.rendered_prompt for s in samples], [s.reply for s in samples],
                          cutoff_len=cutoff_len, batch_size=batch_size)
    model_seconds = time.perf_counter() - started
    texts = [f"{s.prompt_text}\n{s.reply}" for s in samples]
    dup_groups = near_duplicate_clusters(texts)
    duplicate_of: dict[int, str] = {}
    for group in dup_groups:
        first = samples[group[0]]
        for i in group[1:]:
            duplicate_of[i] = f"{first.source}:{first.line}"
    topics = topic_clusters(texts)
    vocab = len(tokenizer)
    scores = []
    for i, (s, loss) in enumerate(zip(samples, losses)):
        sc = score_sample(s.source, s.line, loss, text_signals(s.prompt_text, s.reply), vocab, duplicate_of.get(i))
        sc.cluster = topics.labels[i]
        scores.append(sc)
    total_seconds = time.perf_counter() - started
    tokens = sum(l.reply_tokens * 2 + l.prompt_tokens for l in losses)
    output_dir.mkdir(parents=True, exist_ok=True)
    write_scores(output_dir / "scores.jsonl", scores)
    histograms(output_dir / "histograms.png", scores)
    ranked = sorted(range(len(scores)), key=lambda i: (scores[i].score, i))
    report = {
        "model": plan.facts.name_or_path, "data": list(plan.data_paths), "samples": len(samples),
        "unread": len(unread),
        "score": quantiles([s.score for s in scores]),
        "perplexity": quantiles([s.perplexity for s in scores]),
        "ifd": quantiles([s.ifd for s in scores]),
        "flagged": {reason: n for reason, n in _reason_counts(scores).items()},
        "lowest": [{"where": scores[i].where, "score": round(scores[i].score, 4), "reasons": scores[i].reasons}
                   for i in ranked[:10]],
        "topic_clusters": [{"cluster": c, "count": n, "terms": topics.terms[c],
                            "example": scores[topics.labels.index(c)].where if n else None}
                           for c, n in sorted(enumerate(topics.sizes), key=lambda x: -x[1])],
        "distinct_bigrams": round(topics.distinct_2, 4),
        "near_duplicate_clusters": [[scores[i].where for i in g] for g in dup_groups],
        "throughput": {"device": str(next(net.parameters()).device), "batch_size": batch_size,
                       "model_seconds": round(model_seconds, 3), "total_seconds": round(total_seconds, 3),
                       "samples_per_second": round(len(samples) / total_seconds, 2) if total_seconds else None,
                       "tokens_per_second": round(tokens / model_seconds, 1) if model_seconds else None},
    }
    import json

    (output_dir / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    result = ScoreResult(scores, report, output_dir, unread=unread)
    if keep is not None or min_score is not None:
        kept = kept_indices(scores, keep, min_score)
        rule = " and ".join(x for x in (f"--keep {keep}" if keep else "",
                                          f"--min-score {min_score}" if min_score is not None else "") if x)
        result.filtered = write_filtered(output_dir, plan.data_paths, samples, scores, kept,
                                         {"rule": rule, "model": plan.facts.name_or_path,
                                          "scores": str(output_dir / "scores.jsonl")})
    return result


def _reason_counts(scores: Sequence[Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for s in scores:
        for reason in s.reasons:
            key = reason.split(" (")[0].split(" of ")[0]
            counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items(), key=lambda x: -x[1]))


def score_command(args: argparse.Namespace, host: Any, say: Callable[[str], None]) -> int:
    """``framework data score``: print the summary; the files carry the detail."""
    output = Path(args.output) if args.output else Path("runs") / f"data-score-{Path(args.data[0]).stem}"
    result = score_data(args.model, args.data, output_dir=output, host=host, batch_size=args.batch_size,
                        cutoff_len=args.cutoff_len, keep=args.keep, min_score=args.min_score,
                        trust_remote_code=args.trust_remote_code, say=say)
    r = result.report
    q = r["score"]
    say(f"samples    {r['samples']}  score min {q['min']:.3f}  median {q['median']:.3f}  max {q['max']:.3f}")
    for reason, n in r["flagged"].items():
        say(f"flagged    {n:>6}  {reason}")
    say("lowest     " + ("; ".join(f"{x['where']} {x['score']:.3f}" for x in r["lowest"][:5]) or "-"))
    say(f"diversity  {len(r['topic_clusters'])} topic clusters, distinct bigrams {r['distinct_bigrams']:.2f}, "
        f"{len(r['near_duplicate_clusters'])} near-duplicate cluster(s)")
    for c in r["topic_clusters"][:10]:
        say(f"  cluster {c['cluster']:>2}  {c['count']:>6}  {', '.join(c['terms'])}  e.g. {c['example']}")
    for group in r["near_duplicate_clusters"][:10]:
        say(f"  duplicates  {', '.join(group)}")
    t = r["throughput"]
    say(f"throughput {t['samples_per_second']} samples/s, {t['tokens_per_second']} tokens/s on {t['device']}")
    say(f"written    {output / 'scores.jsonl'}, {output / 'report.json'}, {output / 'histograms.png'}")
    if result.filtered is not None:
        kept = sum(1 for _ in result.filtered.open(encoding="utf-8"))
        say(f"filtered   {kept} of {r['samples']} samples -> {result.filtered} (provenance beside it)")
    return 0
