"""``dedupe.fold`` skips the steps that cannot change a text; it must still give what its
definition (``fold_reference``: NFKC, zero-width removal, whitespace runs, CJK gaps) gives."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from framework.data import dedupe
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


#: Chinese and Japanese text as ``fold``'s cheap path for it sees it: the full-width forms it maps by
#: ``str.replace`` (dedupe._COMMON_WIDE) and others NFKC maps (＃, ０, Ａ), the ideographic space,
#: ideographic punctuation NFKC keeps (。、「」), combining and half-width voiced marks that compose
#: with kana (か\u3099 -> が, ｶﾞ -> ガ), zero-width characters, ASCII, a ligature.
_CJK_ALPHABET = list("，！？：；（）\u3000＃０Ａｚ～。、「」我们退货かｶﾞ\u3099\u0301 a1,?\n\u200b\u200c\u200d\u2060\ufeffﬁ")


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(_CJK_ALPHABET), max_size=60).map("".join))
def test_fold_equals_its_definition_on_cjk_text(text):
    assert fold(text) == fold_reference(text)


@pytest.mark.parametrize("text, folded", [
    ("退货，请联系客服！好吗？", "退货,请联系客服!好吗?"),
    ("时间：（七天）；", "时间:(七天);"),
    ("我们\u3000退货", "我们退货"),  # the ideographic space is a space, then a gap between CJK characters
    ("退货 policy\u3000is 七天", "退货 policy is 七天"),  # spaces next to ASCII stay
    ("＃１ 我们，\u200b退货\ufeff。", "#1 我们,退货。"),  # an uncommon full-width form, zero-width characters
    ("ｶﾞ，か\u3099", "ガ,が"),  # left to unicodedata.normalize after the cheap mapping
])
def test_fold_cjk_examples(text, folded):
    assert fold(text) == folded == fold_reference(text)


def test_zero_width_characters_are_not_printable():
    """``fold`` skips the zero-width pass over printable text."""
    assert not any(char.isprintable() for char in "\u200b\u200c\u200d\u2060\ufeff")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_CJK_ALPHABET + ["  ", " "]), max_size=40).map("".join))
def test_cjk_gap_at_space_finds_the_gaps_of_its_definition(text):
    assert dedupe._CJK_GAP_AT_SPACE.sub("", text) == dedupe._CJK_GAP.sub("", text)
