"""Apply the fixes that plugins attach to their findings, and report each one.

Plugins never mutate the tokenizer or the model: they return ``Finding``s with ``Fix``es and
this module applies them, so every change is visible in one place and in the run's report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from framework.errors import ModelError
from framework.hookdata import Finding


@dataclass
class FixReport:
    """What was found and what was done about it."""

    findings: list[Finding] = field(default_factory=list)
    applied: list[str] = field(default_factory=list)
    stop_tokens: list[str] = field(default_factory=list)
    reinit_token_ids: list[int] = field(default_factory=list)
    added_tokens: list[str] = field(default_factory=list)

    def lines(self, *, brief: bool = False) -> list[str]:
        """The findings, then the fixes applied; ``brief`` (a run) clips info findings to one short line."""
        from framework.finding_lines import finding_line

        return [finding_line(f, brief=brief) for f in self.findings] + [f"  fixed: {a}" for a in self.applied]


def load_tokenizer(directory: Path, *, trust_remote_code: bool) -> Any:
    from transformers import AutoTokenizer

    has_files = any((directory / name).exists() for name in (
        "tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json")) or any(directory.glob("*.tiktoken"))
    if not has_files:
        raise ModelError("no tokenizer files beside config.json", where=str(directory),
                         hint="save the tokenizer into the model directory (tokenizer.save_pretrained)")
    try:
        return AutoTokenizer.from_pretrained(directory, trust_remote_code=trust_remote_code)
    except Exception as exc:
        raise ModelError(f"the tokenizer cannot be loaded ({str(exc).splitlines()[0][:200]})", where=str(directory),
                         hint="check the tokenizer files in the model directory") from None


def apply_tokenizer_fixes(tokenizer: Any, findings: list[Finding], stop_tokens: list[str]) -> FixReport:
    """Apply tokenizer-side fixes; an error finding without a fix stops the run."""
    report = FixReport(findings=list(findings), stop_tokens=list(stop_tokens))
    for finding in findings:
        fix = finding.fix
        if fix is None:
            if finding.severity == "error":
                raise ModelError(f"{finding.code}: {finding.message}", hint="see the plugin's advice above")
            continue
        vocab = tokenizer.get_vocab()
        for attr, token in fix.special_tokens.items():
            if token not in vocab:
                tokenizer.add_special_tokens({attr: token})
                report.added_tokens.append(token)
                report.applied.append(f"{attr} = {token!r} (new token: embeddings resized)")
            else:
                setattr(tokenizer, attr, token)
                report.applied.append(f"{attr} = {token!r} (id {vocab[token]}, already in the vocabulary)")
        for attr, value in fix.tokenizer_attributes.items():
            setattr(tokenizer, attr, value)
            report.applied.append(f"tokenizer.{attr} = {value!r}")
        for token in fix.stop_tokens:
            if token not in report.stop_tokens:
                report.stop_tokens.append(token)
                report.applied.append(f"stop on {token!r}")
        report.reinit_token_ids.extend(i for i in fix.reinit_token_ids if i not in report.reinit_token_ids)
    if tokenizer.pad_token is None:
        fallback = tokenizer.unk_token or tokenizer.eos_token
        tokenizer.pad_token = fallback
        report.applied.append(f"pad_token = {fallback!r} (no plugin fix; never trained: labels are masked)")
    tokenizer.padding_side = "right"
    eos = tokenizer.eos_token
    if eos and eos not in report.stop_tokens:
        report.stop_tokens.append(eos)
    return report


def apply_model_fixes(model: Any, tokenizer: Any, report: FixReport, findings: list[Finding]) -> None:
    """Resize embeddings for added tokens; re-initialise untrained special-token rows to the mean."""
    import torch

    report.findings.extend(findings)
    for finding in findings:
        if finding.fix:
            report.reinit_token_ids.extend(i for i in finding.fix.reinit_token_ids if i not in report.reinit_token_ids)
    embeddings = model.get_input_embeddings()
    if len(tokenizer) > embeddings.weight.shape[0]:
        model.resize_token_embeddings(len(tokenizer), mean_resizing=True)
        report.applied.append(f"embeddings resized to {len(tokenizer)} rows for {', '.join(report.added_tokens)}")
    if report.reinit_token_ids:
        ids = sorted(set(report.reinit_token_ids))
        with torch.no_grad():
            for matrix in {id(m): m for m in (model.get_input_embeddings().weight, model.get_output_embeddings().weight)}.values():
                keep = torch.ones(matrix.shape[0], dtype=torch.bool)
                keep[ids] = False
                matrix[ids] = matrix[keep].mean(dim=0).to(matrix.dtype)
        report.applied.append(f"re-initialised embedding rows {ids} to the mean of the trained rows")
