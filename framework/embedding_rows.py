"""Chat-format tokens whose embedding rows a base checkpoint never trained: one check for every plugin.

Base checkpoints of several families ship their chat format's control tokens with rows that
pre-training never touched (zeros, or a near-zero init): a fine-tune on the chat format then
starts from garbage logits, or NaN in low precision, for exactly the tokens that end every turn.
Which tokens a format uses is a family fact (the plugin's); how to tell an untrained row is not,
so it lives here, with one threshold and one finding code, and plugins call
``untrained_rows_finding`` from their ``check_model`` hook.

A row is untrained when all its values are (near) zero or its L2 norm is under ``RATIO`` times
the median row norm. The median is taken over at most ``SAMPLE_ROWS`` evenly spaced rows in
float32, so a 262,144 x 5,376 bf16 matrix is never copied whole. Trained rows sit within a
small factor of the median; rows a thousand times smaller were never trained.
"""

from __future__ import annotations

from typing import Any, Mapping

from framework.hookdata import Finding, Fix

#: The finding every plugin reports for untrained chat-token rows.
CODE = "untrained-format-tokens"
#: A row with a norm under this fraction of the median row norm counts as untrained.
RATIO = 1e-3
#: A row whose largest absolute value is at most this is zero, whatever the median.
ZERO = 1e-12
#: Rows sampled (evenly spaced) for the median norm.
SAMPLE_ROWS = 4096


def untrained_rows(weight: Any, ids: list[int]) -> list[int]:
    """The ``ids`` whose rows of a 2-D floating-point ``weight`` are untrained (see module docstring)."""
    import torch

    if weight is None or getattr(weight, "dim", lambda: 0)() != 2 or weight.is_meta or not weight.dtype.is_floating_point:
        return []
    rows = weight.shape[0]
    with torch.no_grad():
        sample = weight[:: max(1, rows // SAMPLE_ROWS)].float()
        median = float(torch.linalg.vector_norm(sample, dim=-1).median())
        found = []
        for i in ids:
            if not 0 <= i < rows:
                continue
            row = weight[i].float()
            if float(row.abs().max()) <= ZERO or float(torch.linalg.vector_norm(row)) < RATIO * median:
                found.append(i)
    return found


def untrained_token_rows(model: Any, ids: list[int]) -> dict[int, list[str]]:
    """``id -> ["input embedding", "output head"]`` for every id with an untrained row (a tied head counts once)."""
    inputs = model.get_input_embeddings()
    matrices = [("input embedding", getattr(inputs, "weight", None))]
    output = model.get_output_embeddings()
    out_weight = getattr(output, "weight", None) if output is not None else None
    if out_weight is not None and out_weight is not matrices[0][1]:
        matrices.append(("output head", out_weight))
    found: dict[int, list[str]] = {}
    for label, weight in matrices:
        for i in untrained_rows(weight, sorted(set(ids))):
            found.setdefault(i, []).append(label)
    return found


def untrained_rows_finding(model: Any, tokens: Mapping[str, int | None], *, advice: str, source: str) -> Finding | None:
    """The warning (with the re-initialisation fix) for the chat tokens whose rows are untrained, or None.

    Args:
        model: the loaded model.
        tokens: the chat format's tokens and their ids (None: not in this vocabulary, skipped).
        advice: the family's own words after the common message (its pitfall, its instruct model).
        source: where the pitfall is documented.
    """
    by_id = {i: t for t, i in tokens.items() if i is not None}
    found = untrained_token_rows(model, list(by_id))
    if not found:
        return None
    listed = ", ".join(f"{by_id[i]} ({i}) in the {' and '.join(where)}" for i, where in sorted(found.items()))
    return Finding(
        code=CODE, severity="warning",
        message=f"the embedding rows of {listed} are (near) zero: this checkpoint never trained the chat format's "
        f"tokens, so training on the format starts from garbage logits for them; {advice}".rstrip("; "),
        fix=Fix(description="re-initialise those rows to the mean of the trained rows", reinit_token_ids=tuple(sorted(found))),
        source=source,
    )
