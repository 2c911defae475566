"""``dedupe.fold`` skips the steps that cannot change a text; it must still give what its
definition (``fold_reference``: NFKC, zero-width removal, whitespace runs, CJK gaps) gives."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from framework.data.dedupe import fold, fold_reference

#: Characters each shortcut of ``fold`` is about: ASCII and Unicode whitespace (\x1c-\x1f and
#: U+3000 are whitespace to both ``str.split`` and ``\s``), zero-width characters, full-width
#: forms NFKC changes, CJK on both sides of a space, combining marks, a ligature.
_ALPHABET = list("ab Z9.,?!\t\n\r\x0b\x0c\x1c\x1f\x85\xa0") + [
    "\u2003", "\u3000", "\u200b", "\u200d", "\ufeff", "\u2060", "？", "Ａ", "ｶ", "如", "何", "退", "가", "ア",
    "e\u0301", "é", "ﬁ", "①", "\u00bd", " ",
]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(_ALPHABET), max_size=40).map("".join))
def test_fold_equals_its_definition(text):
    assert fold(text) == fold_reference(text)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_fold_equals_its_definition_on_any_text(text):
    assert fold(text) == fold_reference(text)


@pytest.mark.parametrize("text, folded", [
    ("  What  is\tML? ", "What is ML?"),
    ("如何 退货？", "如何退货?"),
    ("zero\u200bwidth", "zerowidth"),
    ("a\u3000b", "a b"),
    ("ASCII stays", "ASCII stays"),
])
def test_fold_examples(text, folded):
    assert fold(text) == folded
