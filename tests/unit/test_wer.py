"""Word error rate and the normalisation both sides get before scoring."""

from __future__ import annotations

import pytest

from callintel.understanding.wer import align, corpus_wer, normalize, number_words, score, wer


@pytest.mark.parametrize(
    ("number", "words"),
    [(0, "zero"), (7, "seven"), (19, "nineteen"), (40, "forty"), (49, "forty nine"),
     (100, "one hundred"), (305, "three hundred five"), (1250, "one thousand two hundred fifty"),
     (2_000_001, "two million one")],
)
def test_number_words(number: int, words: str) -> None:
    assert number_words(number) == words


def test_normalize_case_punctuation_numbers() -> None:
    def norm(text: str) -> str:
        return " ".join(normalize(text))

    assert norm("Hi Maria, I was charged $49!") == "hi maria i was charged forty nine dollars"
    assert norm("It's 4-5-7-1.") == "its four five seven one"
    assert norm("account 72418") == "account seven two four one eight"  # digit by digit
    assert norm("$3.50, 100% OK") == "three dollars fifty cents one hundred percent okay"
    assert norm("1,250 calls") == "one thousand two hundred fifty calls"


def test_digits_and_words_score_the_same() -> None:
    assert wer("I was charged forty nine dollars", "I was charged $49.") == 0.0
    assert wer("it is seven two four one eight", "It is 72418") == 0.0


def test_counts_each_error_kind() -> None:
    s = score("the cat sat on the mat", "the cat sat on mat today")
    assert (s.substitutions + s.deletions + s.insertions) == 2
    assert s.reference_words == 6
    assert s.wer == pytest.approx(2 / 6)
    assert align(["a", "b", "c"], ["a", "x", "c"]).substitutions == 1
    assert align(["a", "b"], []).deletions == 2
    assert align([], ["a"]).insertions == 1


def test_empty_reference() -> None:
    assert wer("", "") == 0.0
    assert wer("", "hello") == 1.0


def test_corpus_wer_sums_errors_over_words() -> None:
    total = corpus_wer([("a b c d", "a b c d"), ("a b", "a x")])
    assert total.errors == 1
    assert total.reference_words == 6
    assert total.wer == pytest.approx(1 / 6)
