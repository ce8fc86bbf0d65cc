"""Word error rate with text normalisation (pure Python; used by ``bench/asr.py`` and the eval harness).

Both sides are normalised the same way before scoring: lower case, punctuation dropped,
numbers spelled out ("$49" → "forty nine dollars", "4-5-7-1" → "four five seven one"; five or
more digits, or a leading zero, digit by digit as account numbers are read), so that a transcript
is not charged for writing numbers as digits.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

_ONES = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
    "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen",
]
_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_SCALES = ((10**9, "billion"), (10**6, "million"), (1000, "thousand"), (100, "hundred"))
_SYMBOLS = {"%": " percent ", "&": " and ", "+": " plus ", "@": " at "}
_CURRENCY = re.compile(r"([$£€])\s?(\d[\d,]*(?:\.\d+)?)")
_CURRENCY_NAMES = {"$": "dollars", "£": "pounds", "€": "euros"}
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_ORDINAL = re.compile(r"\b(\d+)(st|nd|rd|th)\b")
_SPELLING = {"ok": "okay", "mr": "mister", "mrs": "missus", "dr": "doctor"}


def number_words(number: int) -> str:
    """``4071`` → ``"four thousand seventy one"`` (no "and", hyphens as spaces)."""
    if number < 20:
        return _ONES[number]
    if number < 100:
        tens, ones = divmod(number, 10)
        return _TENS[tens] + ("" if ones == 0 else " " + _ONES[ones])
    for scale, name in _SCALES:
        if number >= scale:
            head, rest = divmod(number, scale)
            tail = "" if rest == 0 else " " + number_words(rest)
            return f"{number_words(head)} {name}{tail}"
    raise AssertionError("unreachable")


def _spell_number(match: re.Match[str]) -> str:
    whole, _, fraction = match.group(0).partition(".")
    if len(whole) >= 5 or (len(whole) > 1 and whole.startswith("0")):
        # Account, phone and card numbers are read digit by digit.
        words = " ".join(_ONES[int(d)] for d in whole)
    else:
        words = number_words(int(whole))
    if fraction:
        words += " point " + " ".join(_ONES[int(d)] for d in fraction)
    return f" {words} "


def _spell_currency(match: re.Match[str]) -> str:
    amount = match.group(2).replace(",", "")
    whole, _, cents = amount.partition(".")
    text = f"{whole} {_CURRENCY_NAMES[match.group(1)]}"
    if cents and int(cents):
        text += f" {int(cents)} cents"
    return f" {text} "


def normalize(text: str) -> list[str]:
    """Lower-cased words with punctuation removed and numbers spelled out."""
    text = text.lower()
    text = _CURRENCY.sub(_spell_currency, text)
    text = _ORDINAL.sub(lambda m: m.group(1), text)
    text = re.sub(r"(?<=\d),(?=\d{3})", "", text)
    for symbol, word in _SYMBOLS.items():
        text = text.replace(symbol, word)
    text = _NUMBER.sub(_spell_number, text)
    text = text.replace("'", "")
    words = re.sub(r"[^\w]+", " ", text).split()
    return [_SPELLING.get(w, w) for w in words]


@dataclass(frozen=True, slots=True)
class WerScore:
    """Edit operations between a reference and a hypothesis, over normalised words."""

    substitutions: int
    deletions: int
    insertions: int
    reference_words: int

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def wer(self) -> float:
        if self.reference_words == 0:
            return 0.0 if self.errors == 0 else 1.0
        return self.errors / self.reference_words

    def __add__(self, other: WerScore) -> WerScore:
        return WerScore(
            self.substitutions + other.substitutions, self.deletions + other.deletions,
            self.insertions + other.insertions, self.reference_words + other.reference_words,
        )


def score(reference: str, hypothesis: str) -> WerScore:
    """Align the normalised words (Levenshtein) and count each kind of error."""
    return align(normalize(reference), normalize(hypothesis))


def align(ref: Sequence[str], hyp: Sequence[str]) -> WerScore:
    """Minimum edit operations turning ``ref`` into ``hyp``."""
    # Each cell holds (cost, substitutions, deletions, insertions).
    prev = [(j, 0, 0, j) for j in range(len(hyp) + 1)]
    for i in range(1, len(ref) + 1):
        row = [(i, 0, i, 0)]
        for j in range(1, len(hyp) + 1):
            diag = prev[j - 1]
            if ref[i - 1] == hyp[j - 1]:
                best = diag
            else:
                best = min(
                    (diag[0] + 1, diag[1] + 1, diag[2], diag[3]),
                    (prev[j][0] + 1, prev[j][1], prev[j][2] + 1, prev[j][3]),
                    (row[j - 1][0] + 1, row[j - 1][1], row[j - 1][2], row[j - 1][3] + 1),
                )
            row.append(best)
        prev = row
    _, subs, dels, ins = prev[-1]
    return WerScore(substitutions=subs, deletions=dels, insertions=ins, reference_words=len(ref))


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate of ``hypothesis`` against ``reference`` after normalisation."""
    return score(reference, hypothesis).wer


def corpus_wer(pairs: Iterable[tuple[str, str]]) -> WerScore:
    """Errors and reference words summed over ``(reference, hypothesis)`` pairs."""
    total = WerScore(0, 0, 0, 0)
    for reference, hypothesis in pairs:
        total = total + score(reference, hypothesis)
    return total
