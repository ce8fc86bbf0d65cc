"""Human-escalation guardrail: policy → decision, reasons with evidence turns, handoff brief.

The guardrail consumes the other outputs (transcript, intent, sentiment, flags, summary) and
never calls a model, so the post-call pipeline and live assist (one utterance at a time, on a
partial transcript) both use :func:`decide`. A policy is YAML (one per tenant, a packaged
default); every signal has its own switch, decision and priority.

Signals (reason codes): ``human_requested``, ``repeat_contact``, ``negative_sentiment``,
``legal_threat``, ``fraud_or_security``, ``chargeback_threat``, ``beyond_authority``,
``low_confidence``, ``self_service_dead_end``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from callintel.config import GuardrailSettings
from callintel.domain import (
    Escalation,
    EscalationReason,
    Flag,
    HandoffBrief,
    IntentResult,
    SentimentResult,
    Summary,
    Transcript,
    Turn,
)
from callintel.errors import PolicyInvalid

Decision = Literal["none", "suggest", "require"]
Priority = Literal["low", "normal", "high", "urgent"]
LowConfidenceOutput = Literal["asr", "intent", "sentiment", "flags", "summary"]

DECISION_RANK: dict[str, int] = {"none": 0, "suggest": 1, "require": 2}
PRIORITY_RANK: dict[str, int] = {"low": 0, "normal": 1, "high": 2, "urgent": 3}
SIGNALS = (
    "human_requested", "repeat_contact", "negative_sentiment", "legal_threat", "fraud_or_security",
    "chargeback_threat", "beyond_authority", "low_confidence", "self_service_dead_end",
)
HUMAN_PATH = "Customers can always ask for a human; the agent can transfer at any time."

# ---------------------------------------------------------------------------------------------
# Policy
# ---------------------------------------------------------------------------------------------


class SignalRule(BaseModel):
    """What one signal does when it fires."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    """Turn the signal off entirely."""
    decision: Decision = "suggest"
    """Decision this signal asks for; ``none`` records the reason without escalating."""
    priority: Priority = "normal"
    """Priority this signal asks for."""


class PatternRule(SignalRule):
    """A signal also detected by case-insensitive regular expressions on customer sentences."""

    patterns: tuple[str, ...] = ()
    """Regexes; a match preceded by a negation in the same clause is ignored."""

    @field_validator("patterns")
    @classmethod
    def _compiles(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in value:
            try:
                _compile(pattern)
            except re.error as exc:
                raise ValueError(f"bad regular expression {pattern!r}: {exc}") from exc
        return value


class RepeatContactRule(PatternRule):
    count: int = Field(3, ge=2)
    """Contacts within ``days`` (this call included) that make a repeat contact."""
    days: int = Field(7, ge=1)
    """History window, in days, the service counts prior contacts in."""


class NegativeSentimentRule(SignalRule):
    turn_score: float = Field(0.4, ge=0.0, le=1.0)
    """A customer turn is negative when labelled negative with score <= -turn_score."""
    window: int = Field(5, ge=1)
    """Consecutive customer turns examined for sustained negativity."""
    min_negative: int = Field(3, ge=1)
    """Negative turns within ``window`` that make sentiment sustained."""
    trend_delta: float = Field(0.4, ge=0.0, le=2.0)
    """A worsening trend at least this steep, ending negative, also fires..."""
    worsening_min_negative: int = Field(2, ge=1)
    """...when the last ``window`` customer turns hold this many negative ones..."""
    strong_turn_score: float = Field(0.7, ge=0.0, le=1.0)
    """...or the last customer turn is at least this negative (one clear outburst)."""


class BeyondAuthorityRule(PatternRule):
    refund_limit: float = Field(100.0, ge=0.0)
    """Refunds, credits or compensation above this amount need a supervisor."""
    compensation_requests: bool = True
    """Requests for compensation (matched by ``patterns``) fire whatever the amount."""


class LowConfidenceRule(SignalRule):
    asr_turn_confidence: float = Field(0.5, ge=0.0, le=1.0)
    """A turn below this ASR confidence is low-confidence."""
    asr_min_fraction: float = Field(0.3, ge=0.0, le=1.0)
    """ASR is low-confidence when at least this fraction of turns are."""
    intent_confidence: float = Field(0.55, ge=0.0, le=1.0)
    """Intent below this confidence is low-confidence."""
    sentiment_confidence: float = Field(0.5, ge=0.0, le=1.0)
    """Sentiment whose mean turn confidence is below this is low-confidence."""
    escalate_on: tuple[LowConfidenceOutput, ...] = ("asr",)
    """Low-confidence outputs that also escalate; the others are only labelled."""


class DeadEndRule(PatternRule):
    similarity: float = Field(0.8, ge=0.0, le=1.0)
    """Two customer turns this similar (token sequences) are the customer repeating themselves."""
    min_words: int = Field(5, ge=1)
    """Shorter turns ("yes", "okay") never count as repeats."""
    lookback: int = Field(10, ge=1)
    """Earlier customer turns each turn is compared with (bounds the cost on long calls)."""


class Combination(BaseModel):
    """Several signals firing together raise the decision."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    codes: tuple[str, ...] = Field(min_length=2)
    decision: Decision = "require"
    priority: Priority = "high"

    @field_validator("codes")
    @classmethod
    def _known(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(value) - set(SIGNALS))
        if unknown:
            raise ValueError(f"unknown signal codes {unknown}; known: {list(SIGNALS)}")
        return value


class GuardrailPolicy(BaseModel):
    """One tenant's escalation policy (validated from YAML)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = 1
    flag_min_confidence: float = Field(0.5, ge=0.0, le=1.0)
    """Flags from the flag detector below this confidence are ignored."""
    human_requested: PatternRule = PatternRule(decision="require", priority="high")
    repeat_contact: RepeatContactRule = RepeatContactRule()
    negative_sentiment: NegativeSentimentRule = NegativeSentimentRule()
    legal_threat: PatternRule = PatternRule(decision="require", priority="urgent")
    fraud_or_security: PatternRule = PatternRule(decision="require", priority="urgent")
    chargeback_threat: PatternRule = PatternRule(decision="require", priority="high")
    beyond_authority: BeyondAuthorityRule = BeyondAuthorityRule(decision="require")
    low_confidence: LowConfidenceRule = LowConfidenceRule(priority="low")
    self_service_dead_end: DeadEndRule = DeadEndRule()
    combinations: tuple[Combination, ...] = ()
    notify_on: tuple[Decision, ...] = ("suggest", "require")
    """Decisions the service sends a ``call.escalated`` webhook for."""
    review_on: tuple[Decision, ...] = ("suggest", "require")
    """Decisions the service lists in the review queue."""

    def rule(self, code: str) -> SignalRule:
        """The rule of one signal code."""
        rule = getattr(self, code)
        assert isinstance(rule, SignalRule)
        return rule


def parse_policy(
    text: str, *, settings: GuardrailSettings | None = None, source: str = "policy", inherit: bool = True
) -> GuardrailPolicy:
    """Validate a policy from YAML text (tenants' own policies).

    With ``inherit`` the text is laid over the packaged default: a tenant writes only what it
    changes (mappings merge, lists such as ``patterns`` replace). Values still missing for the
    refund limit and the repeat-contact window come from ``settings``. Raises
    :class:`PolicyInvalid` naming the offending field.
    """
    data = _yaml_mapping(text, source)
    if inherit:
        data = _merge(_yaml_mapping(default_policy_text(), "default policy"), data)
    _apply_settings(data, settings or GuardrailSettings())
    try:
        return GuardrailPolicy.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"]) or "(root)"
        raise PolicyInvalid(f"{source}: {where}: {error['msg']}", field=where) from exc


def _yaml_mapping(text: str, source: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError as exc:
        raise PolicyInvalid(f"{source}: not valid YAML: {exc}", field=None) from exc
    if not isinstance(data, dict):
        raise PolicyInvalid(f"{source}: a policy must be a YAML mapping", field=None)
    return data


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        old = merged.get(key)
        merged[key] = _merge(old, value) if isinstance(old, dict) and isinstance(value, dict) else value
    return merged


def _apply_settings(data: dict[str, Any], settings: GuardrailSettings) -> None:
    defaults: dict[str, dict[str, float]] = {
        "beyond_authority": {"refund_limit": settings.refund_authority_limit},
        "repeat_contact": {"count": settings.repeat_contact_count, "days": settings.repeat_contact_days},
    }
    for section, values in defaults.items():
        current = data.get(section)
        if current is None:
            data[section] = dict(values)
        elif isinstance(current, dict):
            for key, value in values.items():
                current.setdefault(key, value)


def default_policy_text() -> str:
    """The packaged default policy YAML."""
    return resources.files("callintel").joinpath("resources/policies/default.yaml").read_text("utf-8")


def load_policy(path: Path | None, *, settings: GuardrailSettings) -> GuardrailPolicy:
    """Load a policy file, or the packaged default when ``path`` is None."""
    if path is None:
        return parse_policy(default_policy_text(), settings=settings, source="default policy", inherit=False)
    try:
        text = Path(path).read_text("utf-8")
    except OSError as exc:
        raise PolicyInvalid(f"cannot read policy {path}: {exc.strerror}", field=None) from exc
    return parse_policy(text, settings=settings, source=str(path))


# ---------------------------------------------------------------------------------------------
# Input and text helpers
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GuardrailInput:
    """Everything the guardrail looks at; any analysis may be missing (live, partial calls)."""

    transcript: Transcript
    intent: IntentResult | None = None
    sentiment: SentimentResult | None = None
    flags: tuple[Flag, ...] = ()
    summary: Summary | None = None
    prior_contacts: int = 0
    """Earlier contacts of the same customer within the policy window, this call excluded."""
    asr_confidence: float | None = None
    """Whole-call ASR confidence when the transcriber reports one."""
    customer_id: str | None = None


@dataclass(frozen=True, slots=True)
class _Sentence:
    turn: int
    text: str


_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+|\s*[;\n]\s*")
# A new clause (or a new subject: "if this isn't fixed I'll call my lawyer") ends a negation's scope.
_CLAUSE_BREAK = re.compile(
    r"[,.;:!?]|\b(and|but|however|though|although|then|otherwise|or|so|because|i.?ll|i\s+will|"
    r"i.?m|i\s+am|we.?re|we\s+are|we.?ll)\b", re.IGNORECASE,
)
_NEGATION_REACH = 5
"""Words before a match a negation may stand in ("I don't want to sue")."""
_NEGATION = re.compile(
    r"\b(not|no|never|don.?t|doesn.?t|didn.?t|won.?t|wouldn.?t|isn.?t|aren.?t|can.?t|cannot|"
    r"no\s+need|without)\b", re.IGNORECASE,
)


@lru_cache(maxsize=1024)
def _compile(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


def customer_turns(transcript: Transcript) -> tuple[Turn, ...]:
    """The customer's turns; on a mono call with no roles, the unattributed turns."""
    turns = transcript.by_speaker("customer")
    return turns if turns else transcript.by_speaker("unknown")


def _sentences(turns: Iterable[Turn]) -> list[_Sentence]:
    out: list[_Sentence] = []
    for turn in turns:
        out.extend(_Sentence(turn.index, s) for s in _SENTENCE_SPLIT.split(turn.text) if s.strip())
    return out


def _negated(text: str, start: int) -> bool:
    """A negation between the clause start and the match (``I don't want to sue``)."""
    before = text[:start]
    breaks = list(_CLAUSE_BREAK.finditer(before))
    clause = before[breaks[-1].end():] if breaks else before
    reach = " ".join(clause.split()[-_NEGATION_REACH:])
    return _NEGATION.search(reach) is not None


@lru_cache(maxsize=256)
def _combined(patterns: tuple[str, ...]) -> re.Pattern[str]:
    """One alternation per rule: a single scan of each sentence instead of one per pattern."""
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)


@lru_cache(maxsize=65536)
def _hit(text: str, patterns: tuple[str, ...]) -> bool:
    """Cached per sentence: a live session re-decides on a growing transcript each utterance."""
    return any(not _negated(text, found.start()) for found in _combined(patterns).finditer(text))


def _matches(sentences: Sequence[_Sentence], patterns: Sequence[str]) -> list[_Sentence]:
    if not patterns:
        return []
    key = tuple(patterns)
    return [sentence for sentence in sentences if _hit(sentence.text, key)]


def _turns(items: Iterable[int]) -> tuple[int, ...]:
    return tuple(sorted(set(items)))


# ---------------------------------------------------------------------------------------------
# Money amounts ("$250", "250 dollars", "two hundred and fifty dollars")
# ---------------------------------------------------------------------------------------------

_UNIT_WORDS = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
    "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen",
)
_TEN_WORDS = ("twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_UNITS = {w: i for i, w in enumerate(_UNIT_WORDS)}
_TENS = {w: 10 * i for i, w in enumerate(_TEN_WORDS, 2)}
_SCALES = {"hundred": 100, "thousand": 1000, "grand": 1000}
_NUMBER_WORD = r"(?:a|and|" + "|".join([*_UNITS, *_TENS, *_SCALES]) + r")"
_CURRENCY_WORDS = r"(?:dollars?|bucks|usd|pounds?|quid|euros?|gbp|eur)"
_AMOUNT_PATTERNS = (
    re.compile(r"[$£€]\s?(\d[\d,]*(?:\.\d+)?)\s*(k|grand|thousand)?", re.IGNORECASE),
    re.compile(r"\b(\d[\d,]*(?:\.\d+)?)\s*(k|grand|thousand)?\s*" + _CURRENCY_WORDS + r"\b", re.IGNORECASE),
)
_WORD_AMOUNT = re.compile(
    r"\b((?:" + _NUMBER_WORD + r"[\s-]+)*" + _NUMBER_WORD + r")\s+" + _CURRENCY_WORDS + r"\b", re.IGNORECASE
)
_REFUND_CONTEXT = re.compile(
    r"\b(refund\w*|credit(?!\s*cards?\b)\w*|compensat\w*|reimburs\w*|money\s+back|(my|the|that|this|it)\s+(\S+\s+){0,3}back|"
    r"pay\s+me|owe[ds]?|discount|"
    r"waive\w*|goodwill|make\s+it\s+right)\b", re.IGNORECASE,
)
#: Requests clear enough that an amount anywhere in the same turn is what the customer wants back.
_STRONG_REFUND = re.compile(r"\b(refund\w*|reimburs\w*|compensat\w*|money\s+back)\b", re.IGNORECASE)


def _asks(pattern: re.Pattern[str], text: str) -> bool:
    return any(not _negated(text, found.start()) for found in pattern.finditer(text))


def _amounts_asked(sentences: Sequence[_Sentence]) -> list[tuple[int, float]]:
    """Amounts the customer asks back: in a sentence about money back, or anywhere in a turn that
    plainly asks for a refund ("I paid $300 for it. I want a refund.")."""
    strong_turns = {s.turn for s in sentences if _asks(_STRONG_REFUND, s.text)}
    found: list[tuple[int, float]] = []
    for sentence in sentences:
        if sentence.turn in strong_turns or _asks(_REFUND_CONTEXT, sentence.text):
            found.extend((sentence.turn, amount) for amount in money_amounts(sentence.text))
    return found


def words_to_number(text: str) -> float | None:
    """``"two hundred and fifty"`` → 250; None when the words are not a number."""
    total, current, seen = 0, 0, False
    for word in re.split(r"[\s-]+", text.lower().strip()):
        if word in ("and", ""):
            continue
        if word == "a":
            current = max(current, 1)
        elif word in _UNITS or word in _TENS:
            current += _UNITS.get(word, 0) + _TENS.get(word, 0)
            seen = True
        elif word in _SCALES:
            current = max(current, 1) * _SCALES[word]
            if _SCALES[word] >= 1000:
                total, current = total + current, 0
            seen = True
        else:
            return None
    return float(total + current) if seen else None


def money_amounts(text: str) -> list[float]:
    """Every money amount said in ``text``, in the call's currency units."""
    amounts: list[float] = []
    for pattern in _AMOUNT_PATTERNS:
        for found in pattern.finditer(text):
            value = float(found.group(1).replace(",", ""))
            amounts.append(value * 1000 if found.group(2) else value)
    for found in _WORD_AMOUNT.finditer(text):
        spoken = words_to_number(found.group(1))
        if spoken is not None:
            amounts.append(spoken)
    return amounts


# ---------------------------------------------------------------------------------------------
# Signals: each returns one reason or None
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Context:
    inp: GuardrailInput
    policy: GuardrailPolicy
    sentences: tuple[_Sentence, ...]
    """The customer's sentences."""


_CUSTOMER_RAISED = ("customer", "unknown")


def _flag_turns(ctx: _Context, topic: str, *, customer_only: bool) -> list[int]:
    turns: list[int] = []
    for flag in ctx.inp.flags:
        if flag.topic != topic or flag.confidence < ctx.policy.flag_min_confidence:
            continue
        if customer_only and flag.raised_by not in _CUSTOMER_RAISED:
            continue
        turns.extend(flag.turns)
    return turns


def _pattern_signal(
    code: str, *, flag: str | None = None, customer_only: bool = True
) -> Callable[[_Context], EscalationReason | None]:
    """A signal raised by a flag topic or by the rule's own patterns."""

    def signal(ctx: _Context) -> EscalationReason | None:
        rule = ctx.policy.rule(code)
        assert isinstance(rule, PatternRule)
        flagged = _flag_turns(ctx, flag, customer_only=customer_only) if flag else []
        hits = _matches(ctx.sentences, rule.patterns)
        if not flagged and not hits:
            return None
        said = "; ".join(f'"{h.text}"' for h in hits[:2])
        detail = f"flag {flag}" if flagged and not hits else said
        return EscalationReason(code, _turns([*flagged, *(h.turn for h in hits)]), detail)

    return signal


def _repeat_contact(ctx: _Context) -> EscalationReason | None:
    rule = ctx.policy.repeat_contact
    said = _pattern_signal("repeat_contact", flag="repeat_contact", customer_only=False)(ctx)
    history = ctx.inp.prior_contacts + 1 >= rule.count
    if said is None and not history:
        return None
    detail = [said.detail] if said else []
    if history:
        detail.append(f"{ctx.inp.prior_contacts} earlier contacts in {rule.days} days")
    return EscalationReason("repeat_contact", said.turns if said else (), "; ".join(detail))


def _customer_scores(ctx: _Context) -> list[tuple[int, float, str]]:
    sentiment = ctx.inp.sentiment
    if sentiment is None:
        return []
    roles = {t.index: t.speaker for t in ctx.inp.transcript.turns}
    wanted = {"customer"} if any(r == "customer" for r in roles.values()) else {"unknown"}
    return [(t.turn, t.score, t.label) for t in sentiment.turns if roles.get(t.turn, t.speaker) in wanted]


def _negative_sentiment(ctx: _Context) -> EscalationReason | None:
    rule = ctx.policy.negative_sentiment
    scores = _customer_scores(ctx)
    if not scores:
        return None
    negative = [lbl == "negative" and s <= -rule.turn_score for _, s, lbl in scores]
    recovered = _recovered(ctx, scores[-1][2])
    for start in range(max(1, len(scores) - rule.window + 1)):
        window = range(start, min(start + rule.window, len(scores)))
        hits = [scores[i][0] for i in window if negative[i]]
        if len(hits) >= rule.min_negative and not recovered:
            detail = f"{len(hits)} negative customer turns"
            return EscalationReason("negative_sentiment", _turns(hits), detail)
    return _worsening(ctx, scores, negative)


def _recovered(ctx: _Context, last_label: str) -> bool:
    """The customer ends the call calmer: last turn positive, or not negative on an improving trend."""
    trend = ctx.inp.sentiment.trend if ctx.inp.sentiment else None
    improving = trend is not None and trend.direction == "improving"
    return last_label == "positive" or (last_label != "negative" and improving)


def _worsening(
    ctx: _Context, scores: list[tuple[int, float, str]], negative: list[bool]
) -> EscalationReason | None:
    rule = ctx.policy.negative_sentiment
    trend = ctx.inp.sentiment.trend if ctx.inp.sentiment else None
    if trend is None or trend.direction != "worsening" or not negative[-1]:
        return None
    if abs(trend.delta) < rule.trend_delta or trend.end > -rule.turn_score:
        return None
    recent = list(zip(scores, negative, strict=True))[-rule.window:]
    tail = [turn for (turn, _, _), neg in recent if neg]
    # one mildly negative last turn on a short call is too little evidence
    if len(tail) < rule.worsening_min_negative and scores[-1][1] > -rule.strong_turn_score:
        return None
    return EscalationReason(
        "negative_sentiment", _turns(tail), f"worsening from {trend.start:+.2f} to {trend.end:+.2f}"
    )


def _beyond_authority(ctx: _Context) -> EscalationReason | None:
    rule = ctx.policy.beyond_authority
    over = [(turn, amount) for turn, amount in _amounts_asked(ctx.sentences) if amount > rule.refund_limit]
    summary = ctx.inp.summary
    for step in summary.next_steps if summary else ():
        amounts = money_amounts(f"{step.amount or ''} {step.text}") if step.kind == "refund" else []
        over.extend((t, a) for a in amounts if a > rule.refund_limit for t in step.turns[:1])
    asks = _matches(ctx.sentences, rule.patterns) if rule.compensation_requests else []
    if not over and not asks:
        return None
    detail = [f"amount {max(a for _, a in over):g} above limit {rule.refund_limit:g}"] if over else []
    detail += [f'"{h.text}"' for h in asks[:1]]
    return EscalationReason(
        "beyond_authority", _turns([*(t for t, _ in over), *(h.turn for h in asks)]), "; ".join(detail)
    )


def _words(text: str) -> tuple[str, ...]:
    return tuple(re.findall(r"[a-z0-9']+", text.lower()))


@lru_cache(maxsize=65536)
def _similar(a: tuple[str, ...], b: tuple[str, ...], threshold: float) -> bool:
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    # the cheap upper bounds rule most pairs out before the full ratio
    return (
        matcher.real_quick_ratio() >= threshold
        and matcher.quick_ratio() >= threshold
        and matcher.ratio() >= threshold
    )


def _dead_end(ctx: _Context) -> EscalationReason | None:
    rule = ctx.policy.self_service_dead_end
    said = _matches(ctx.sentences, rule.patterns)
    turns = [s.turn for s in said]
    details = [f'"{s.text}"' for s in said[:1]]
    candidates = [(t.index, _words(t.text)) for t in customer_turns(ctx.inp.transcript)]
    long_turns = [(index, words) for index, words in candidates if len(words) >= rule.min_words]
    for i, (index, words) in enumerate(long_turns):
        for earlier, other in long_turns[max(0, i - rule.lookback):i]:
            if _similar(other, words, rule.similarity):
                turns += [earlier, index]
                details.append(f"turn {index} repeats turn {earlier}")
                break
    if not turns:
        return None
    return EscalationReason("self_service_dead_end", _turns(turns), "; ".join(details[:3]))


def low_confidence_outputs(inp: GuardrailInput, rule: LowConfidenceRule) -> dict[str, tuple[int, ...]]:
    """Outputs judged low-confidence, each with its evidence turns (may be empty)."""
    found: dict[str, tuple[int, ...]] = {}
    turns = inp.transcript.turns
    weak = [t.index for t in turns if t.confidence < rule.asr_turn_confidence]
    asr_low = inp.asr_confidence is not None and inp.asr_confidence < rule.asr_turn_confidence
    if asr_low or (turns and len(weak) / len(turns) >= rule.asr_min_fraction):
        found["asr"] = tuple(weak)
    intent = inp.intent
    if intent is not None and (intent.low_confidence or intent.confidence < rule.intent_confidence):
        found["intent"] = intent.turns
    if inp.sentiment is not None and _sentiment_low(inp.sentiment, rule):
        found["sentiment"] = ()
    low_flags = [f for f in inp.flags if f.low_confidence]
    if low_flags:
        found["flags"] = _turns(t for f in low_flags for t in f.turns)
    if inp.summary is not None and inp.summary.low_confidence:
        found["summary"] = ()
    return found


def _sentiment_low(sentiment: SentimentResult, rule: LowConfidenceRule) -> bool:
    if sentiment.low_confidence:
        return True
    confidences = [t.confidence for t in sentiment.turns]
    return bool(confidences) and sum(confidences) / len(confidences) < rule.sentiment_confidence


def _low_confidence(ctx: _Context) -> EscalationReason | None:
    rule = ctx.policy.low_confidence
    found = low_confidence_outputs(ctx.inp, rule)
    escalating = [name for name in rule.escalate_on if name in found]
    if not escalating:
        return None
    turns = _turns(t for name in escalating for t in found[name])
    return EscalationReason("low_confidence", turns, "low-confidence " + ", ".join(escalating))


_SIGNAL_FUNCS: dict[str, Callable[[_Context], EscalationReason | None]] = {
    "human_requested": _pattern_signal("human_requested", flag="supervisor_request"),
    "repeat_contact": _repeat_contact,
    "negative_sentiment": _negative_sentiment,
    "legal_threat": _pattern_signal("legal_threat", flag="legal_threat"),
    "fraud_or_security": _pattern_signal("fraud_or_security", flag="fraud_or_security", customer_only=False),
    "chargeback_threat": _pattern_signal("chargeback_threat", flag="chargeback"),
    "beyond_authority": _beyond_authority,
    "low_confidence": _low_confidence,
    "self_service_dead_end": _dead_end,
}


# ---------------------------------------------------------------------------------------------
# Decision
# ---------------------------------------------------------------------------------------------


def detect_reasons(inp: GuardrailInput, *, policy: GuardrailPolicy) -> tuple[EscalationReason, ...]:
    """Every enabled signal that fires, in policy order."""
    ctx = _Context(inp=inp, policy=policy, sentences=tuple(_sentences(customer_turns(inp.transcript))))
    reasons = []
    for code in SIGNALS:
        if policy.rule(code).enabled and (reason := _SIGNAL_FUNCS[code](ctx)) is not None:
            reasons.append(reason)
    return tuple(reasons)


def _strongest(policy: GuardrailPolicy, codes: set[str]) -> tuple[Decision, Priority]:
    decision: Decision = "none"
    priority: Priority = "low"
    choices: list[tuple[Decision, Priority]] = [
        (policy.rule(c).decision, policy.rule(c).priority) for c in codes
    ]
    choices += [(c.decision, c.priority) for c in policy.combinations if set(c.codes) <= codes]
    for choice_decision, choice_priority in choices:
        if choice_decision == "none":
            continue
        if DECISION_RANK[choice_decision] > DECISION_RANK[decision]:
            decision = choice_decision
        if PRIORITY_RANK[choice_priority] > PRIORITY_RANK[priority]:
            priority = choice_priority
    return decision, priority


def decide(inp: GuardrailInput, *, policy: GuardrailPolicy) -> Escalation:
    """The escalation decision for a whole or partial call (pure, no model calls)."""
    reasons = detect_reasons(inp, policy=policy)
    decision, priority = _strongest(policy, {r.code for r in reasons})
    low = low_confidence_outputs(inp, policy.low_confidence)
    brief = build_handoff_brief(inp, reasons=reasons, decision=decision) if decision != "none" else None
    return Escalation(
        decision=decision, priority=priority, reasons=reasons, handoff_brief=brief,
        human_path=HUMAN_PATH, low_confidence=tuple(name for name in _OUTPUT_ORDER if name in low),
    )


_OUTPUT_ORDER = ("asr", "intent", "sentiment", "flags", "summary")


@dataclass(frozen=True, slots=True)
class LiveDecision:
    """The guardrail's answer to one live utterance."""

    escalation: Escalation
    new_reasons: tuple[EscalationReason, ...]
    """Reasons that appeared or gained evidence since the previous utterance: warn the agent now."""


def decide_live(
    inp: GuardrailInput, *, policy: GuardrailPolicy, previous: Escalation | None = None
) -> LiveDecision:
    """:func:`decide` on the partial transcript, plus what is new since ``previous``."""
    escalation = decide(inp, policy=policy)
    return LiveDecision(escalation=escalation, new_reasons=new_reasons(previous, escalation))


def new_reasons(previous: Escalation | None, current: Escalation) -> tuple[EscalationReason, ...]:
    """Reasons of ``current`` absent from ``previous`` or citing turns it did not cite."""
    before = {r.code: set(r.turns) for r in previous.reasons} if previous else {}
    return tuple(
        r for r in current.reasons if r.code not in before or not set(r.turns) <= before[r.code]
    )


def should_notify(escalation: Escalation, *, policy: GuardrailPolicy) -> bool:
    """True when the service sends a ``call.escalated`` webhook for this call."""
    return escalation.decision in policy.notify_on


def needs_review(escalation: Escalation, *, policy: GuardrailPolicy) -> bool:
    """True when the call belongs in ``GET /v1/review-queue``."""
    return escalation.decision in policy.review_on


def review_rank(escalation: Escalation) -> tuple[int, int]:
    """Sort key for the review queue, most pressing first when sorted descending."""
    return PRIORITY_RANK[escalation.priority], DECISION_RANK[escalation.decision]


# ---------------------------------------------------------------------------------------------
# Handoff brief (extractive: only what was said or produced by the other analyses)
# ---------------------------------------------------------------------------------------------

_NAME = re.compile(
    r"\b(?:my name is|my name's|name is|this is|it's)\s+"
    r"((?:Mr\.?|Mrs\.?|Ms\.?|Dr\.?)?\s*[A-Z][a-z'-]+(?:\s+[A-Z][a-z'-]+)?)"
)
_NOT_NAMES = {"I", "It", "This", "That", "The", "Yes", "No", "Okay", "Ok", "So", "Just", "Really"}
_WANT = re.compile(
    r"\b(i\s+(want|need|would\s+like|expect|demand)|i.?d\s+like|can\s+(you|i)|could\s+you|"
    r"please\s+(just\s+)?\w+)\b", re.IGNORECASE,
)
_COURTESY = re.compile(
    r"^\W*((thank(s| you)( so much| very much)?|bye|goodbye|okay|ok|yes|no|sure|great|alright)\W*)+$",
    re.IGNORECASE,
)


def customer_name(transcript: Transcript) -> str | None:
    """A name the customer gave ("my name is Dana Whitfield"), or None."""
    for turn in customer_turns(transcript):
        for found in _NAME.finditer(turn.text):
            name = found.group(1).strip()
            if name.split()[0] not in _NOT_NAMES:
                return name
    return None


def _wants(sentences: Sequence[_Sentence]) -> list[_Sentence]:
    wanted = [s for s in sentences if _WANT.search(s.text) and not _COURTESY.match(s.text)]
    return wanted[-2:]


def _issue(inp: GuardrailInput, sentences: Sequence[_Sentence]) -> tuple[str, tuple[int, ...]]:
    if inp.summary is not None and inp.summary.reason is not None:
        return inp.summary.reason.text, inp.summary.reason.turns
    for sentence in sentences:
        text = sentence.text
        if len(_words(text)) >= 4 and not _COURTESY.match(text) and not _NAME.search(text):
            return text, (sentence.turn,)
    return "", ()


def _sentiment_text(sentiment: SentimentResult | None) -> str:
    if sentiment is None:
        return ""
    overall = sentiment.by_speaker.get("customer") or sentiment.by_speaker.get("unknown")
    parts = [f"customer {overall.label} ({overall.score:+.2f})"] if overall else []
    if sentiment.trend is not None:
        trend = sentiment.trend
        parts.append(f"{trend.direction} ({trend.start:+.2f} → {trend.end:+.2f})")
    return ", ".join(parts)


def _cite(turns: Sequence[int]) -> str:
    return f" [turns {', '.join(map(str, turns))}]" if turns else ""


def build_handoff_brief(
    inp: GuardrailInput, *, reasons: Sequence[EscalationReason] = (), decision: str = "suggest"
) -> HandoffBrief:
    """What the receiving person needs so the customer never repeats themselves."""
    sentences = _sentences(customer_turns(inp.transcript))
    name = customer_name(inp.transcript)
    who = [name] if name else []
    who += [f"customer id {inp.customer_id}"] if inp.customer_id else []
    customer = ", ".join(who) or "not stated"
    issue, issue_turns = _issue(inp, sentences)
    actions = inp.summary.actions if inp.summary else ()
    tried = tuple(a.text for a in actions)
    wants = _wants(sentences)
    sentiment = _sentiment_text(inp.sentiment)
    lines = [
        f"Customer: {customer}",
        f"Issue: {issue or 'not stated'}{_cite(issue_turns)}",
        "Tried: " + ("; ".join(f"{a.text}{_cite(a.turns)}" for a in actions) or "nothing recorded"),
        "Wants: " + (" / ".join(f'"{w.text}"{_cite([w.turn])}' for w in wants) or "not stated"),
        f"Sentiment: {sentiment or 'unknown'}",
        f"Escalation ({decision}): " + ("; ".join(f"{r.code}{_cite(r.turns)}" for r in reasons) or "none"),
    ]
    return HandoffBrief(
        customer=customer, issue=issue, tried=tried, wants=" / ".join(w.text for w in wants),
        sentiment=sentiment, text="\n".join(lines),
    )
