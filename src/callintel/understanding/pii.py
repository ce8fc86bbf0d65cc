"""PII redaction of a transcript, with the word times the audio redactor silences.

Found: card numbers (Luhn-checked), account, order, phone and social security numbers, emails
(written, or spoken as "john dot smith at gmail dot com"), dates of birth (only next to a
date-of-birth cue, in the turn or in the question just before it), street addresses, and runs of
digits, written or spoken ("four five seven two one"). Money ("$45.20", "45 dollars"), times and
short numbers ("3 to 5 days") are kept.

Each finding becomes a tag (``[CARD]``, ``[PHONE]``...) in the turn text and in the turn's words;
its :class:`PiiSpan` carries the tag's character offsets in the *redacted* turn text and the start
and end times of the words it replaced, so the same stretch of audio can be silenced.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from callintel.domain import PiiSpan, Transcript, Turn, Word

TAGS: dict[str, str] = {
    "email": "[EMAIL]", "card": "[CARD]", "ssn": "[SSN]", "dob": "[DOB]", "address": "[ADDRESS]",
    "phone": "[PHONE]", "account": "[ACCOUNT]", "order": "[ORDER]", "number": "[NUMBER]",
}
#: When two findings overlap, the merged span takes the kind listed first.
PRIORITY = tuple(TAGS)

_DIGIT_WORDS = {
    "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4",
    "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9", "niner": "9",
}
#: "oh" is a zero only inside a run of digits ("five oh two"), never on its own ("oh, okay").
_ZERO_WORDS = frozenset({"oh", "o"})
_REPEAT_WORDS = {"double": 2, "triple": 3}
_SEPARATOR_WORDS = {"dash", "hyphen", "-"}
_STRIP = "\"'()[]{},.;:!?"

_NUMERIC = re.compile(r"^[#+]?(?=[A-Za-z0-9-]*\d)[A-Za-z0-9-]+$")
_NOT_ID = re.compile(
    r"^\d+(?:st|nd|rd|th|s|am|pm|k|m|gb|mb|mbps|ms|kg|lb|lbs|km|mi|ft|hrs?|mins?|x)$"
    r"|^\d{1,3}(?:,\d{3})+$|^\d+\.\d{1,2}$|^\d+-\d+$|^[A-Za-z]+-?\d$",
    re.IGNORECASE,
)
def _wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())


_UNITS_AFTER = _wordset(
    "dollars dollar bucks cents cent percent pounds euros pesos rupees points miles megabits megs gigs "
    "gigabytes mbps minutes minute hours hour days day weeks week months month years year times pm am "
    "o'clock people items units calories feet inches meters kilometers"
)

_CONTEXT: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("ssn", re.compile(r"\b(?:social\s+security|ssn|social)\b", re.I)),
    ("card", re.compile(
        r"\b(?:card|visa|mastercard|master\s+card|amex|american\s+express|discover)\b", re.I)),
    # "date on birth": how Whisper sometimes hears it on a phone line.
    ("dob", re.compile(r"\b(?:date\s+(?:of|on|a)\s+birth|d\.?o\.?b|birth\s*date|birthday|born)\b", re.I)),
    ("phone", re.compile(
        r"\b(?:phone|cell|mobile|telephone|call\s+(?:me|you)|reach\s+(?:me|you)|text\s+me|callback|call\s+back)\b",
        re.I)),
    ("account", re.compile(
        r"\b(?:account|acct|member(?:ship)?|customer\s+(?:number|id)|policy|routing)\b", re.I)),
    ("order", re.compile(r"\b(?:order|confirmation|tracking|invoice|reservation|booking)\b", re.I)),
    ("address", re.compile(r"\b(?:zip|postal|post\s+code|postcode|address)\b", re.I)),
    ("number", re.compile(
        r"\b(?:number|code|pin|digits|id|reference|ticket|case|passcode|password)\b", re.I)),
)
_MIN_DIGITS_IN_CONTEXT = 4
#: Written like a phone number: 555-0199, 312 555 0196, (312) 555-0196, 1-800-555-0199.
_PHONE_SHAPE = re.compile(r"(?:\+?1[-.\s])?(?:\(?\d{3}\)?[-.\s])?\d{3}[-.\s]\d{4}")
_YEAR_LIKE = re.compile(r"(?:19|20)\d\d")
#: Cues under which a year-like 4-digit number is still PII (a birth year, last four digits).
_YEAR_CONTEXTS = frozenset({"dob", "card", "ssn", "number"})
_MIN_DIGITS_ALONE = 5


@dataclass(frozen=True, slots=True)
class Found:
    """A finding in one turn's original text."""

    kind: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Token:
    start: int
    end: int
    text: str


def luhn_ok(digits: str) -> bool:
    """The Luhn checksum every payment card number satisfies."""
    if not digits.isdigit() or len(digits) < 2:
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def tokens(text: str) -> list[Token]:
    """Whitespace tokens with surrounding punctuation stripped, with their offsets."""
    out: list[Token] = []
    for m in re.finditer(r"\S+", text):
        raw = m.group()
        left = len(raw) - len(raw.lstrip(_STRIP))
        core = raw.strip(_STRIP)
        if core:
            out.append(Token(m.start() + left, m.start() + left + len(core), core))
    return out


# --- digit runs -------------------------------------------------------------------------------
def _word_digits(word: str) -> str | None:
    low = word.lower()
    if low in _DIGIT_WORDS:
        return _DIGIT_WORDS[low]
    parts = low.split("-")
    if len(parts) > 1 and all(p in _DIGIT_WORDS or p in _ZERO_WORDS for p in parts):
        return "".join(_DIGIT_WORDS.get(p, "0") for p in parts)
    return None


def _token_digits(toks: Sequence[Token], i: int, *, in_run: bool) -> tuple[str, int] | None:
    """Digits a token (or "double five") stands for, and how many tokens that took."""
    text = toks[i].text
    low = text.lower()
    nxt = toks[i + 1].text if i + 1 < len(toks) else ""
    if low in _REPEAT_WORDS and (d := _word_digits(nxt)):
        return d * _REPEAT_WORDS[low], 2
    if low in _ZERO_WORDS:
        return ("0", 1) if in_run or _word_digits(nxt) or nxt.isdigit() else None
    if (d := _word_digits(text)) is not None:
        return d, 1
    if _NUMERIC.match(text) and not _NOT_ID.match(text):
        return re.sub(r"\D", "", text), 1
    return None


def digit_runs(text: str, toks: Sequence[Token]) -> Iterator[tuple[int, int, str]]:
    """``(first token, last token, digits)`` for each run of written or spoken digits."""
    i, first, last, digits = 0, -1, -1, ""
    while i < len(toks):
        if digits and re.search(r"[.?!;:]", text[toks[i - 1].end:toks[i].start]):
            yield first, last, digits
            digits = ""
        found = _token_digits(toks, i, in_run=bool(digits))
        if found:
            first = i if not digits else first
            digits += found[0]
            last = i + found[1] - 1
            i += found[1]
            continue
        if not (digits and toks[i].text.lower() in _SEPARATOR_WORDS):
            if digits:
                yield first, last, digits
            digits = ""
        i += 1
    if digits:
        yield first, last, digits


def _context(before: str, previous: str) -> str | None:
    """The PII kind the nearest cue names: in this turn just before the run, else the prior turn.

    A specific cue ("account", "phone") wins over the generic "number" in the same place.
    """
    for window in (before[-80:], previous):
        for cues in (_CONTEXT[:-1], _CONTEXT[-1:]):
            best: tuple[int, str] | None = None
            for kind, cue in cues:
                for m in cue.finditer(window):
                    if best is None or m.end() > best[0]:
                        best = (m.end(), kind)
            if best is not None:
                return best[1]
    return None


def classify_digits(digits: str, *, context: str | None, phone_shaped: bool = False) -> str | None:
    """The kind of a run of digits, or None when it is too short to be PII."""
    n = len(digits)
    if 13 <= n <= 19 and luhn_ok(digits):
        return "card"
    if phone_shaped and context not in ("card", "ssn"):
        return "phone"
    if context is None:
        if n == 10 or (n == 11 and digits.startswith("1")) or (n == 7 and phone_shaped):
            return "phone"
        return "number" if n >= _MIN_DIGITS_ALONE else None
    if n < _MIN_DIGITS_IN_CONTEXT:
        return None
    if context == "card":
        return "card" if n <= 6 else "number"  # a long card number that fails Luhn is not a card
    if context == "ssn":
        return "ssn" if n in (4, 9) else "number"
    if context == "phone":
        return "phone" if n >= 7 else "number"
    return context


def find_digit_runs(text: str, previous: str) -> list[Found]:
    toks = tokens(text)
    found: list[Found] = []
    for first, last, digits in digit_runs(text, toks):
        after = toks[last + 1].text.lower() if last + 1 < len(toks) else ""
        if after in _UNITS_AFTER:
            continue
        start, end = toks[first].start, toks[last].end
        prior = previous if first < 15 else ""
        shaped = bool(_PHONE_SHAPE.fullmatch(text[start:end]))
        context = _context(text[:start], prior)
        if _YEAR_LIKE.fullmatch(text[start:end]) and context not in _YEAR_CONTEXTS:
            continue  # "the account was opened in 2019"
        kind = classify_digits(digits, context=context, phone_shaped=shaped)
        if kind is not None:
            found.append(Found(kind, start, end))
    return found


# --- emails, dates of birth, addresses --------------------------------------------------------
_TLD = r"(?:com|net|org|edu|gov|io|co|uk|us|ca|de|fr|au|in|info|biz|me|mail|email)"
_DOT = r"(?:\.|\s+dot\s+)"
_EMAIL = re.compile(
    r"\b[a-z0-9][a-z0-9._%+-]*(?:\s+(?:dot|underscore|dash|hyphen)\s+[a-z0-9%+-]+)*(?:\s+\d+)?"
    r"(?:\s*@\s*|\s+at\s+)"
    rf"[a-z0-9-]+(?:{_DOT}[a-z0-9-]+)*{_DOT}{_TLD}\b",
    re.IGNORECASE,
)

_NUMWORD = (
    r"(?:zero|oh|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|"
    r"fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|"
    r"ninety|hundred|thousand|first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|"
    r"eleventh|twelfth|thirteenth|fourteenth|fifteenth|sixteenth|seventeenth|eighteenth|"
    r"nineteenth|twentieth|thirtieth)"
)
_NUMWORDS = rf"{_NUMWORD}(?:(?:[\s-]+|\s+and\s+){_NUMWORD})*"
_MONTH = (
    r"(?:january|february|march|april|may|june|july|august|september|october|november|december|"
    r"jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec)\.?"
)
_DAY = rf"(?:\d{{1,2}}(?:st|nd|rd|th)?|{_NUMWORDS})"
_YEAR = rf"(?:\d{{4}}|'\d{{2}}|{_NUMWORDS})"
_DATE = re.compile(
    rf"\b(?:{_MONTH}\s+(?:the\s+)?{_DAY}(?:,?\s+{_YEAR})?"
    rf"|(?:the\s+)?{_DAY}\s+(?:of\s+)?{_MONTH}(?:,?\s+{_YEAR})?"
    r"|\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4})\b",
    re.IGNORECASE,
)
_DOB_CUE = _CONTEXT[2][1]

_STREET = (
    r"(?i:street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|court|ct|way|place|pl|"
    r"terrace|circle|cir|highway|hwy|parkway|pkwy|trail|square|sq|crescent|alley|row)"
)
_ADDRESS = re.compile(
    rf"\b(?:\d+[A-Za-z]?|(?i:{_NUMWORD}[\s-]+{_NUMWORDS}))\s+(?:(?i:north|south|east|west|n|s|e|w)\.?\s+)?"
    rf"(?:[A-Za-z0-9'-]+\s+){{1,3}}?{_STREET}\b\.?"
    r"(?:,?\s+(?i:apartment|apt|unit|suite|ste|number|#)\.?\s*[\w-]+)?"
    r"(?:,\s*[A-Z][a-zA-Z]+(?:\s+[A-Z][a-zA-Z]+)?)?(?:,?\s+[A-Z]{2}\b)?(?:,?\s+\d{5}(?:-\d{4})?)?"
    r"|\b(?i:p\.?\s?o\.?\s+box)\s+\d+",
)
_ADDRESS_CUE = re.compile(
    r"\b(?:(?:my|the|new|mailing|billing|shipping|home)\s+address\s+is|i\s+live\s+at|i\s+moved\s+to)\s+",
    re.IGNORECASE,
)


def find_emails(text: str) -> list[Found]:
    return [Found("email", m.start(), m.end()) for m in _EMAIL.finditer(text)]


def find_dobs(text: str, previous: str) -> list[Found]:
    """Dates next to a birth-date cue: after it in this turn, or anywhere in the answer to it."""
    cue = _DOB_CUE.search(text)
    asked = bool(_DOB_CUE.search(previous))
    if cue is None and not asked:
        return []
    start_at = cue.start() if cue is not None and not asked else 0
    return [Found("dob", m.start(), m.end()) for m in _DATE.finditer(text, start_at)]


#: Words that never sit between a house number and a street suffix ("5 minutes with Dr. Lee").
_NOT_STREET_NAME = _wordset(
    "a an the of to for and or in on at by with from more other last best minutes hours days weeks "
    "months years times dollars percent people items is was"
)


def _street_like(match: str) -> bool:
    words = re.findall(r"[A-Za-z']+", match.split(",")[0].lower())
    return not any(w in _NOT_STREET_NAME for w in words)


_ABBREVIATIONS = _wordset("st ave rd blvd ln dr ct pl cir hwy pkwy sq apt ste")


def _sentence_dot(match: str) -> int:
    """1 when the match ends in a full stop after a whole word ("Lane."), not an abbreviation ("St.")."""
    last = re.search(r"([A-Za-z]+)\.$", match)
    return int(last is not None and last.group(1).lower() not in _ABBREVIATIONS)


def find_addresses(text: str) -> list[Found]:
    found = [
        Found("address", m.start(), m.end() - _sentence_dot(m.group()))
        for m in _ADDRESS.finditer(text) if _street_like(m.group())
    ]
    for m in _ADDRESS_CUE.finditer(text):
        rest = re.match(r"[^.?!]{3,80}", text[m.end():])
        if rest and re.search(r"\d", rest.group()):
            found.append(Found("address", m.end(), m.end() + len(rest.group().rstrip(" ,"))))
    return found


def find_pii(text: str, *, previous: str = "") -> list[Found]:
    """Every finding in one turn's text, merged so that none overlap."""
    found = [
        *find_emails(text), *find_dobs(text, previous), *find_addresses(text),
        *find_digit_runs(text, previous),
    ]
    return merge(found)


def merge(found: Sequence[Found]) -> list[Found]:
    """Union overlapping findings; the merged one takes the highest-priority kind."""
    merged: list[Found] = []
    for f in sorted(found, key=lambda f: (f.start, -f.end)):
        if merged and f.start < merged[-1].end:
            last = merged[-1]
            kind = min(last.kind, f.kind, key=PRIORITY.index)
            merged[-1] = Found(kind, last.start, max(last.end, f.end))
        else:
            merged.append(f)
    return merged


# --- applying the findings to turns -----------------------------------------------------------
def redact_text(text: str, found: Sequence[Found]) -> tuple[str, list[tuple[Found, int, int]]]:
    """Text with tags in place, and each finding with its tag's offsets in that text."""
    parts: list[str] = []
    placed: list[tuple[Found, int, int]] = []
    cursor = length = 0
    for f in found:
        parts.append(text[cursor:f.start])
        length += f.start - cursor
        tag = TAGS[f.kind]
        placed.append((f, length, length + len(tag)))
        parts.append(tag)
        length += len(tag)
        cursor = f.end
    parts.append(text[cursor:])
    return "".join(parts), placed


def align_words(text: str, words: Sequence[Word]) -> list[tuple[int, int] | None]:
    """Character range of each word in ``text`` (None where a word cannot be found)."""
    ranges: list[tuple[int, int] | None] = []
    cursor = 0
    for w in words:
        token = w.word.strip()
        at = text.find(token, cursor) if token else -1
        if at < 0:
            ranges.append(None)
            continue
        ranges.append((at, at + len(token)))
        cursor = at + len(token)
    return ranges


def _span_times(turn: Turn, f: Found, ranges: Ranges) -> tuple[float, float]:
    hit = [w for w, r in zip(turn.words, ranges, strict=True) if r and r[0] < f.end and r[1] > f.start]
    if hit:
        return min(w.start for w in hit), max(w.end for w in hit)
    # No word timings (typed text, or words that do not match the text): place it by characters.
    size = max(len(turn.text), 1)
    dur = turn.end - turn.start
    return turn.start + dur * f.start / size, turn.start + dur * f.end / size


Ranges = Sequence[tuple[int, int] | None]


def _owners(found: Sequence[Found], ranges: Ranges) -> list[int | None]:
    """For each word, the finding it overlaps (None for most words)."""
    return [
        next((k for k, f in enumerate(found) if r and r[0] < f.end and r[1] > f.start), None) for r in ranges
    ]


def _tagged_word(turn: Turn, f: Found, group: Sequence[Word], first: int, last: int) -> Word:
    """One word standing for ``group``, which spans characters ``first..last`` of the turn text."""
    head = group[0].word
    lead = head[: len(head) - len(head.lstrip())]
    text = turn.text[first:max(first, f.start)] + TAGS[f.kind] + turn.text[min(f.end, last):last]
    return Word(lead + text, group[0].start, group[-1].end, min(w.probability for w in group))


def _redact_words(turn: Turn, found: Sequence[Found], ranges: Ranges) -> tuple[Word, ...]:
    """Words overlapping one finding collapse into one word that carries its tag."""
    owner = _owners(found, ranges)
    out: list[Word] = []
    i = 0
    while i < len(turn.words):
        k = owner[i]
        if k is None:
            out.append(turn.words[i])
            i += 1
            continue
        j = i
        while j + 1 < len(turn.words) and owner[j + 1] == k:
            j += 1
        first, last = ranges[i], ranges[j]
        assert first is not None and last is not None  # owned words were aligned
        out.append(_tagged_word(turn, found[k], turn.words[i:j + 1], first[0], last[1]))
        i = j + 1
    return tuple(out)


def redact_turn(turn: Turn, *, previous: str = "") -> tuple[Turn, tuple[PiiSpan, ...]]:
    """One turn with its PII replaced by tags, and the spans (times from its words)."""
    found = find_pii(turn.text, previous=previous)
    if not found:
        return turn, ()
    text, placed = redact_text(turn.text, found)
    ranges = align_words(turn.text, turn.words)
    spans = []
    for f, start, end in placed:
        t0, t1 = _span_times(turn, f, ranges)
        spans.append(PiiSpan(turn=turn.index, kind=f.kind, start=t0, end=t1, char_start=start, char_end=end))
    words = _redact_words(turn, found, ranges)
    return dataclasses.replace(turn, text=text, words=words), tuple(spans)


def redact_transcript(transcript: Transcript) -> tuple[Transcript, tuple[PiiSpan, ...]]:
    """The transcript with PII replaced by tags, and every span (for the audio redactor)."""
    turns: list[Turn] = []
    spans: list[PiiSpan] = []
    before: list[str] = []
    for turn in transcript.turns:
        # Two turns back: an answer is often split ("March 14," / "1979.") after the question.
        redacted, found = redact_turn(turn, previous=" ".join(before[-2:]))
        turns.append(redacted)
        spans.extend(found)
        before.append(turn.text)
    return dataclasses.replace(transcript, turns=tuple(turns)), tuple(spans)
