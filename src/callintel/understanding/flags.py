"""Urgent topics (cancellation, refund, outage, ...) with the turns that raised them.

Two detectors vote on each sentence: regular expressions that cover the usual wordings (with a
negation check, so "I don't want a refund" is not a refund), and sentence-embedding similarity to
per-topic prototype phrases, so paraphrases the patterns miss are still caught. A semantic hit
must also beat near-miss phrases (negations, look-alikes) and neutral call lines, which keeps
"this is my first time calling" from looking like a repeat contact. The rules and phrases live in
``resources/flags.yaml`` so a tenant can ship its own file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from callintel.domain import Flag, Speaker, Transcript, Turn
from callintel.errors import ConfigError
from callintel.ml.protocols import Embedder, FloatArray

TOPICS = (
    "cancellation", "refund", "outage", "supervisor_request",
    "repeat_contact", "legal_threat", "fraud_or_security", "chargeback",
)

_NEG_STRONG = r"(?:not|never|no|don't|dont|do\s+not|no\s+longer|isn't|is\s+not|aren't|wasn't|nor)"
_NEG_WEAK = r"(?:didn't|did\s+not|won't|will\s+not|wouldn't|would\s+not|haven't|have\s+not|never)"
_DESIRE = (
    r"(?:want|wanted|wanna|need|needed|asking|ask|asked|looking|requesting|request|requested|planning|"
    r"plan|going|gonna|trying|intend|intending|interested|calling|here|care|wish|mean|think|thinking|"
    r"believe|expect|expecting|talking|considering|try|trying|after|seeking|chasing|demanding|bothered|fussed)"
)
_DETS = r"(?:(?:a|an|the|any|my|to|be|going\s+to|gonna|for|about|that|this|it|it's|this\s+is)\s+){0,3}"
#: A negation cue right before a topic match, within the same clause.
_NEGATED = re.compile(
    rf"(?:\b{_NEG_STRONG}\s+(?:{_DESIRE}\b(?:\s+\S+){{0,3}}?\s+|{_DETS})"
    rf"|\b{_NEG_WEAK}\s+{_DESIRE}\b(?:\s+\S+){{0,3}}?\s+"
    # "we're not seeing any outages": a report of absence, not a desire
    r"|\b(?:not|don't|do\s+not|doesn't|does\s+not|aren't|isn't)\s+(?:have|has|see|seeing|show|showing|detect|"
    r"detecting|know\s+of|aware\s+of|reporting)\s+(?:any|an?)\s+"
    r"|\b(?:no\s+need\s+to|no\s+reason\s+to|rather\s+than|instead\s+of|without|other\s+than|except)\s+(?:\S+\s+){0,3})$",
    re.IGNORECASE,
)
#: "still/yet" marks a complaint ("still not refunded"), which must not read as a negation.
_COMPLAINT = re.compile(r"\b(?:still|yet|haven't\s+(?:got|gotten|received|seen))\b", re.IGNORECASE)
_CLAUSE_BREAK = re.compile(r"[,;:]|\b(?:but|just|only|however|although|though)\b", re.IGNORECASE)
#: "Is there an outage?" asks; "Why is my internet down again?" complains.
_YES_NO_QUESTION = re.compile(
    r"^(?:(?:hi|hello|hey|so|and|also|ok|okay|um|uh|well)\b[\s,]*)*"
    r"(?:is|are|was|were|has|have|do|does|did|could|can|any|anything)\b[^?]*\?\s*$",
    re.IGNORECASE,
)
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?;])\s+|\n+")

PATTERN_CONFIDENCE = 0.8
AGENT_FACTOR = 0.85
LOW_CONFIDENCE = 0.6
#: A customer asking whether the topic applies ("Is there an outage?") is weak evidence.
QUESTION_CONFIDENCE = 0.5
#: How many margins a similarity-only topic must lead by in a sentence a pattern already flagged.
CLEAR_WIN = 3.0


@dataclass(frozen=True, slots=True)
class TopicRule:
    """One topic's patterns, prototype phrases, near misses and threshold."""

    name: str
    patterns: tuple[re.Pattern[str], ...]
    prototypes: tuple[str, ...]
    negatives: tuple[str, ...]
    threshold: float
    agent_can_raise: bool
    suppresses: tuple[str, ...] = ()
    """Topics this one replaces when both come from the same sentence."""
    unless: re.Pattern[str] | None = None
    """Sentences this matches never raise the topic (a cancelled appointment is not churn)."""
    semantic_requires: re.Pattern[str] | None = None
    """A similarity-only hit also needs this cue (a chargeback names a bank, card issuer or dispute)."""
    questions_are_weak: bool = False
    """A question that raises the topic ("Is there an outage on your side?") is low confidence."""


@dataclass(frozen=True, slots=True)
class FlagRules:
    """The whole rule file."""

    topics: tuple[TopicRule, ...]
    neutral: tuple[str, ...]
    margin: float

    @classmethod
    def load(cls, path: Path | None = None) -> FlagRules:
        """Read ``path``, or the packaged ``resources/flags.yaml``."""
        try:
            if path is None:
                text = resources.files("callintel").joinpath("resources/flags.yaml").read_text("utf-8")
            else:
                text = path.read_text("utf-8")
            data = yaml.safe_load(text)
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read flag rules: {exc}", path=str(path)) from exc
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: Any) -> FlagRules:
        if not isinstance(data, dict) or not isinstance(data.get("topics"), dict):
            raise ConfigError("flag rules need a 'topics' mapping")
        topics = tuple(_topic(name, spec) for name, spec in data["topics"].items())
        return cls(
            topics=topics,
            neutral=tuple(str(s) for s in data.get("neutral") or ()),
            margin=float(data.get("margin", 0.04)),
        )


def _topic(name: str, spec: Any) -> TopicRule:
    if not isinstance(spec, dict) or not spec.get("prototypes"):
        raise ConfigError(f"flag topic '{name}' needs prototypes", topic=name)
    try:
        patterns = tuple(re.compile(p, re.IGNORECASE) for p in spec.get("patterns") or ())
        unless = re.compile(spec["unless"], re.IGNORECASE) if spec.get("unless") else None
        cue = spec.get("semantic_requires")
        requires = re.compile(cue, re.IGNORECASE) if cue else None
    except re.error as exc:
        raise ConfigError(f"flag topic '{name}' has a bad pattern: {exc}", topic=name) from exc
    return TopicRule(
        name=name,
        patterns=patterns,
        prototypes=tuple(str(s) for s in spec["prototypes"]),
        negatives=tuple(str(s) for s in spec.get("negatives") or ()),
        threshold=float(spec.get("threshold", 0.6)),
        agent_can_raise=bool(spec.get("agent_can_raise", False)),
        suppresses=tuple(str(t) for t in spec.get("suppresses") or ()),
        unless=unless,
        semantic_requires=requires,
        questions_are_weak=bool(spec.get("questions_are_weak", False)),
    )


@dataclass(frozen=True, slots=True)
class Sentence:
    turn: int
    speaker: Speaker
    text: str


@dataclass(frozen=True, slots=True)
class Hit:
    """One sentence's evidence for one topic."""

    topic: str
    turn: int
    speaker: Speaker
    text: str
    confidence: float
    source: str
    """``pattern``, ``semantic`` or ``both``."""
    asked: bool = False
    """Raised by a question (weak evidence) rather than a statement."""


def split_sentences(text: str) -> list[str]:
    """Split on sentence punctuation; Whisper output is punctuated."""
    return [s.strip() for s in _SENTENCE_SPLIT.split(text) if s.strip()]


def is_yes_no_question(sentence: str) -> bool:
    """Whether ``sentence`` asks rather than states ("Is there an outage?", not "Why is it down?")."""
    return bool(_YES_NO_QUESTION.match(sentence.strip()))


def is_negated(sentence: str, start: int) -> bool:
    """Whether the topic match starting at ``start`` sits in a negated clause."""
    prefix = sentence[:start]
    breaks = list(_CLAUSE_BREAK.finditer(prefix))
    clause = prefix[breaks[-1].end():] if breaks else prefix
    if _COMPLAINT.search(clause):
        return False
    return bool(_NEGATED.search(clause.lower() if clause.endswith(" ") else clause.lower() + " "))


def pattern_topics(sentence: str, rules: FlagRules) -> tuple[set[str], set[str]]:
    """Topics whose patterns match ``sentence``: (affirmed, negated-only)."""
    affirmed: set[str] = set()
    negated: set[str] = set()
    for topic in rules.topics:
        for pattern in topic.patterns:
            for match in pattern.finditer(sentence):
                if is_negated(sentence, match.start()):
                    negated.add(topic.name)
                else:
                    affirmed.add(topic.name)
    return affirmed, negated - affirmed


#: topic → (confidence, lead of the best prototype over the best near miss), for one sentence.
SemanticVotes = dict[str, tuple[float, float]]


class SemanticIndex:
    """Prototype, near-miss and neutral phrase vectors, embedded once per detector."""

    def __init__(self, rules: FlagRules, embedder: Embedder) -> None:
        self._embedder = embedder
        self._positives = [embedder.embed(list(t.prototypes)) for t in rules.topics]
        neutral = embedder.embed(list(rules.neutral))
        self._negatives = [
            np.vstack([embedder.embed(list(t.negatives)), neutral]) if t.negatives else neutral
            for t in rules.topics
        ]

    def embed(self, texts: Sequence[str]) -> FloatArray:
        return self._embedder.embed(texts)

    def scores(self, vectors: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Per sentence and topic: best prototype score, best near-miss/neutral score."""
        pos = np.stack([_best(vectors, p) for p in self._positives], axis=1)
        neg = np.stack([_best(vectors, n) for n in self._negatives], axis=1)
        return pos, neg


def _best(vectors: FloatArray, bank: FloatArray) -> FloatArray:
    if bank.shape[0] == 0:
        return np.full(vectors.shape[0], -1.0, dtype=np.float32)
    return np.asarray((vectors @ bank.T).max(axis=1), dtype=np.float32)


def semantic_confidence(pos: float, neg: float, *, threshold: float, margin: float) -> float:
    """Map a semantic hit's scores to a confidence in [0.5, 0.9]."""
    raw = 0.55 + 1.5 * (pos - threshold) + 0.5 * (pos - neg - margin)
    return float(min(0.9, max(0.5, raw)))


class FlagDetector:
    """Finds urgent topics in a transcript (or one live utterance) with their evidence turns.

    Similarity is computed for customer (and, on mono calls, unknown) sentences of three words or
    more; agent sentences raise a topic only by pattern. ``embedder`` None runs the pattern
    detector alone (used where no model is loaded). Thread-safe after construction.
    """

    def __init__(self, *, embedder: Embedder | None, rules: FlagRules | None = None) -> None:
        self.rules = rules or FlagRules.load()
        self._index = SemanticIndex(self.rules, embedder) if embedder is not None else None

    @property
    def topics(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.rules.topics)

    def detect(self, transcript: Transcript) -> tuple[Flag, ...]:
        """All flags of a call, ordered by the turn that first raised them."""
        return aggregate(self.hits(transcript.turns))

    def detect_text(self, text: str, *, speaker: Speaker, turn: int) -> tuple[Flag, ...]:
        """Flags of one live utterance."""
        return self.detect_turns([Turn(index=turn, speaker=speaker, start=0.0, end=0.0, text=text)])

    def detect_turns(self, turns: Sequence[Turn]) -> tuple[Flag, ...]:
        return aggregate(self.hits(turns))

    def hits(self, turns: Iterable[Turn]) -> list[Hit]:
        """Every sentence-level piece of evidence, in turn order."""
        sentences = [Sentence(t.index, t.speaker, s) for t in turns for s in split_sentences(t.text)]
        semantic = self._semantic_candidates(sentences)
        found: list[Hit] = []
        for i, sentence in enumerate(sentences):
            found.extend(self._sentence_hits(sentence, semantic.get(i, {})))
        denied = {(t, s.turn) for s in sentences for t in pattern_topics(s.text, self.rules)[1]}
        return _drop_answered_questions(found, denied)

    def _sentence_hits(self, sentence: Sentence, semantic: SemanticVotes) -> list[Hit]:
        is_agent = sentence.speaker == "agent"
        if is_agent and sentence.text.rstrip().endswith("?"):
            return []  # an offer ("Would you like a refund or a replacement?") raises nothing yet
        affirmed, negated = pattern_topics(sentence.text, self.rules)
        hits: list[Hit] = []
        for rule in self.rules.topics:
            if rule.name in negated or (is_agent and not rule.agent_can_raise):
                continue
            if rule.unless is not None and rule.unless.search(sentence.text):
                continue
            by_pattern = rule.name in affirmed
            by_meaning = _semantic_vote(rule, sentence.text, semantic)
            if by_meaning is not None and affirmed and not by_pattern:
                # A pattern already explains this sentence; a second topic from similarity alone
                # must win clearly ("I want that money back" sits near cancellation prototypes).
                by_meaning = by_meaning if by_meaning[1] >= CLEAR_WIN * self.rules.margin else None
            if not by_pattern and by_meaning is None:
                continue
            confidence, source = _combine(by_pattern, by_meaning[0] if by_meaning else None)
            if is_agent:
                confidence *= AGENT_FACTOR
            asked = not is_agent and rule.questions_are_weak and is_yes_no_question(sentence.text)
            if asked:
                confidence = min(confidence, QUESTION_CONFIDENCE)
            hits.append(Hit(rule.name, sentence.turn, sentence.speaker, sentence.text, confidence, source,
                            asked=asked))
        # Only a topic a pattern confirmed may push another aside; similarity alone is too loose.
        confirmed = {h.topic for h in hits if h.source != "semantic"}
        dropped = {t for rule in self.rules.topics if rule.name in confirmed for t in rule.suppresses}
        return [h for h in hits if h.topic not in dropped]

    def _semantic_candidates(self, sentences: Sequence[Sentence]) -> dict[int, SemanticVotes]:
        """Sentence position → topic → (confidence, lead over near misses), for customer sentences."""
        if self._index is None:
            return {}
        chosen = [i for i, s in enumerate(sentences) if s.speaker != "agent" and len(s.text.split()) >= 3]
        if not chosen:
            return {}
        unique = list(dict.fromkeys(sentences[i].text for i in chosen))
        pos, neg = self._index.scores(self._index.embed(unique))
        rows = {text: r for r, text in enumerate(unique)}
        margin = self.rules.margin
        out: dict[int, SemanticVotes] = {}
        for i in chosen:
            row = rows[sentences[i].text]
            # Only the nearest topic counts: a sentence about a stolen card is near "refund" too.
            col = int(np.argmax(pos[row]))
            rule = self.rules.topics[col]
            p, n = float(pos[row, col]), float(neg[row, col])
            if p >= rule.threshold and p - n >= margin:
                conf = semantic_confidence(p, n, threshold=rule.threshold, margin=margin)
                out[i] = {rule.name: (conf, p - n)}
        return out


def _drop_answered_questions(hits: list[Hit], denied: set[tuple[str, int]]) -> list[Hit]:
    """Drop a topic only ever asked about and then denied ("Is there an outage?" "There's no outage")."""
    asked_only = {h.topic for h in hits} - {h.topic for h in hits if not h.asked}
    first = {t: min(h.turn for h in hits if h.topic == t) for t in asked_only}
    gone = {t for t in asked_only if any(d == t and turn >= first[t] for d, turn in denied)}
    return [h for h in hits if h.topic not in gone]


def _semantic_vote(rule: TopicRule, text: str, semantic: SemanticVotes) -> tuple[float, float] | None:
    vote = semantic.get(rule.name)
    if vote is not None and rule.semantic_requires is not None and not rule.semantic_requires.search(text):
        return None
    return vote


def _combine(by_pattern: bool, by_meaning: float | None) -> tuple[float, str]:
    if by_pattern and by_meaning is not None:
        return min(0.97, max(PATTERN_CONFIDENCE, by_meaning) + 0.1), "both"
    if by_pattern:
        return PATTERN_CONFIDENCE, "pattern"
    assert by_meaning is not None
    return by_meaning, "semantic"


def aggregate(hits: Sequence[Hit], *, max_evidence: int = 3) -> tuple[Flag, ...]:
    """One flag per topic: its turns, best confidence (a little more for repeated evidence)."""
    by_topic: dict[str, list[Hit]] = {}
    for hit in sorted(hits, key=lambda h: h.turn):
        by_topic.setdefault(hit.topic, []).append(hit)
    flags = []
    for topic, group in by_topic.items():
        turns = tuple(sorted({h.turn for h in group}))
        confidence = min(0.99, max(h.confidence for h in group) + 0.03 * (len(turns) - 1))
        evidence = tuple(dict.fromkeys(h.text for h in group))[:max_evidence]
        flags.append(Flag(
            topic=topic, turns=turns, confidence=round(confidence, 4), raised_by=group[0].speaker,
            evidence=evidence, low_confidence=confidence < LOW_CONFIDENCE,
        ))
    return tuple(sorted(flags, key=lambda f: f.turns[0]))
