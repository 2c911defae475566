"""The base model's view of each reply: its loss with the instruction and without it.

* reply perplexity: ``exp`` of the mean loss of the reply's tokens after the prompt rendered
  with the family's chat template (as training would show it); a garbled or off-language
  reply is improbable under any competent base model.
* instruction-following difficulty (IFD, Li et al. 2023 "From Quantity to Quality"): the
  reply's loss with the prompt divided by its loss alone. Below 1 the instruction makes the
  reply easier to predict; at or above 1 the reply does not follow from the instruction.

Both losses are over exactly the same reply tokens (the reply text tokenized on its own), so
the ratio compares like with like. Samples are sorted by length and run in padded batches,
on the GPU when there is one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence


@dataclass(frozen=True)
class ReplyLoss:
    conditional: float  # mean loss of the reply after the prompt (nan: empty reply)
    unconditional: float  # mean loss of the reply alone
    reply_tokens: int
    prompt_tokens: int

    @property
    def perplexity(self) -> float:
        return math.exp(min(self.conditional, 50.0)) if math.isfinite(self.conditional) else math.nan

    @property
    def ifd(self) -> float:
        if not (math.isfinite(self.conditional) and math.isfinite(self.unconditional)) or self.unconditional <= 0:
            return math.nan
        return self.conditional / self.unconditional


def _batch_losses(model: Any, rows: Sequence[tuple[list[int], int]], pad_id: int, device: Any) -> list[float]:
    """Mean loss over the last ``n`` tokens of each row ``(ids, n)``, one padded forward pass.

    Rows are padded on the left with explicit position ids, so every row's reply ends the
    batch and only the last ``max(n) + 1`` positions are projected to the vocabulary
    (``logits_to_keep``): with a 128k-token vocabulary the projection of the prompt
    positions would otherwise dominate the time and memory of scoring.
    """
    import torch

    width = max(len(ids) for ids, _ in rows)
    keep = max(n for _, n in rows) + 1
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    labels = torch.full((len(rows), keep), -100, dtype=torch.long)
    for i, (row, n) in enumerate(rows):
        ids[i, width - len(row):] = torch.tensor(row)
        mask[i, width - len(row):] = 1
        labels[i, keep - n:] = torch.tensor(row[len(row) - n:])
    positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
    with torch.no_grad():
        out = model(input_ids=ids.to(device), attention_mask=mask.to(device), position_ids=positions.to(device),
                    logits_to_keep=keep)
    logits = out.logits[:, -keep:].float()
    shift_logits, shift_labels = logits[:, :-1], labels[:, 1:].to(device)
    loss = torch.nn.functional.cross_entropy(shift_logits.transpose(1, 2), shift_labels, ignore_index=-100,
                                             reduction="none")
    counts = (shift_labels != -100).sum(dim=1).clamp(min=1)
    return (loss.sum(dim=1) / counts).tolist()


def reply_losses(model: Any, tokenizer: Any, prompts: Sequence[str], replies: Sequence[str], *, cutoff_len: int,
                 batch_size: int, progress: Callable[[int], None] | None = None) -> list[ReplyLoss]:
    """One ``ReplyLoss`` per (rendered prompt, reply text) pair."""
    device = next(model.parameters()).device
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0)
    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    cond: list[tuple[list[int], int]] = []
    alone: list[tuple[list[int], int]] = []
    sizes: list[tuple[int, int]] = []
    for prompt, reply in zip(prompts, replies):
        r = tokenizer(reply, add_special_tokens=False)["input_ids"][: max(1, cutoff_len // 2)] if reply else []
        p = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        p = p[-max(1, cutoff_len - len(r)):]  # keep the end of a long prompt: it is what the reply follows
        if not bos and r:
            alone.append((r, len(r) - 1))  # no start token: the first reply token cannot be scored alone
        else:
            alone.append((bos + r, len(r)))
        cond.append((p + r, len(r)))
        sizes.append((len(r), len(p)))
    results: list[list[float]] = [[math.nan, math.nan] for _ in prompts]
    for which, rows in enumerate((cond, alone)):
        order = sorted((i for i, (_, n) in enumerate(rows) if n > 0), key=lambda i: len(rows[i][0]))
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            for i, value in zip(chunk, _batch_losses(model, [rows[i] for i in chunk], pad_id, device)):
                results[i][which] = value
            if progress is not None:
                progress(len(chunk))
    return [ReplyLoss(c, u, n_r, n_p) for (c, u), (n_r, n_p) in zip(results, sizes)]
