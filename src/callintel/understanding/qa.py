"""Automatic QA scorecards: a YAML scorecard of weighted items, each scored pass / fail / n/a.

The packaged default follows the inbound call-handling process (greeting with company and agent
name, verification when the request is account-specific, an open question to find the reason,
acknowledgement and empathy, resolution or a warranted escalation, next steps, and a close with
"anything else?" and thanks). Tenants write their own scorecards in the same YAML format.

An item holds one or more *checks* (it passes when any passes):

* ``phrase``: regular expressions and/or keywords said by a speaker in a position of the call
  (``opening`` / ``closing`` = that speaker's first / last ``window`` turns, or ``any``);
  ``match: all`` needs every pattern somewhere in that window.
* ``semantic``: example phrases; passes when a sentence of the speaker in the window has a cosine
  similarity of at least ``threshold`` to an example (sentence embeddings).

``applies_when`` makes an item n/a unless its conditions hold (intents, flags, the escalation
decision, a check that matches or must not match). ``escalation_checks`` are what counts instead
of ``checks`` when the guardrail requires a human (either counts when it only suggests one).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from callintel.domain import Escalation, Flag, IntentResult, QAItem, QAResult, Transcript, Turn
from callintel.errors import ScorecardInvalid
from callintel.ml.protocols import Embedder, FloatArray

DEFAULT_SCORECARD = Path(__file__).resolve().parents[1] / "resources" / "scorecards" / "default.yaml"

Result = Literal["pass", "fail", "n/a"]
SpeakerSel = Literal["agent", "customer", "any"]
Position = Literal["opening", "closing", "any"]


# --- YAML schema (validated with pydantic; errors become ScorecardInvalid) -------------------------
class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PhraseCheckSpec(_Spec):
    """Regex / keyword check."""

    type: Literal["phrase"]
    patterns: list[str] = []
    keywords: list[str] = []
    match: Literal["any", "all"] = "any"
    speaker: SpeakerSel = "agent"
    position: Position = "any"
    window: int = Field(3, ge=1, le=100)

    @field_validator("patterns")
    @classmethod
    def _compiles(cls, value: list[str]) -> list[str]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from None
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> PhraseCheckSpec:
        if not self.patterns and not self.keywords:
            raise ValueError("a phrase check needs at least one pattern or keyword")
        return self


class SemanticCheckSpec(_Spec):
    """Similarity to example phrases."""

    type: Literal["semantic"]
    examples: list[str] = Field(min_length=1)
    threshold: float = Field(0.6, gt=0.0, le=1.0)
    speaker: SpeakerSel = "agent"
    position: Position = "any"
    window: int = Field(3, ge=1, le=100)


CheckSpec = Annotated[PhraseCheckSpec | SemanticCheckSpec, Field(discriminator="type")]


class ConditionSpec(_Spec):
    """When an item applies; with ``mode: any`` one stated condition is enough."""

    mode: Literal["any", "all"] = "all"
    intents: list[str] | None = None
    flags: list[str] | None = None
    escalation: list[Literal["none", "suggest", "require"]] | None = None
    matches: CheckSpec | None = None
    not_matches: CheckSpec | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> ConditionSpec:
        stated = (self.intents, self.flags, self.escalation, self.matches, self.not_matches)
        if all(c is None for c in stated):
            raise ValueError("applies_when needs at least one condition")
        return self


class ItemSpec(_Spec):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    label: str = Field(min_length=1)
    description: str = ""
    weight: float = Field(1.0, gt=0.0, le=1000.0)
    checks: list[CheckSpec] = Field(min_length=1)
    escalation_checks: list[CheckSpec] = []
    applies_when: ConditionSpec | None = None


class ScorecardSpec(_Spec):
    name: str = Field(min_length=1, max_length=100)
    version: int | str = 1
    description: str = ""
    items: list[ItemSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> ScorecardSpec:
        seen: set[str] = set()
        for item in self.items:
            if item.id in seen:
                raise ValueError(f"duplicate item id {item.id!r}")
            seen.add(item.id)
        return self


# --- compiled scorecard ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Scorecard:
    """A validated scorecard with its regexes compiled and example phrases embedded."""

    spec: ScorecardSpec
    embedder: Embedder | None
    _examples: dict[tuple[str, ...], FloatArray] = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def items(self) -> tuple[ItemSpec, ...]:
        return tuple(self.spec.items)

    def example_vectors(self, examples: Sequence[str]) -> FloatArray:
        key = tuple(examples)
        if key not in self._examples:
            if self.embedder is None:
                raise ScorecardInvalid("semantic checks need an embedder", scorecard=self.name)
            self._examples[key] = self.embedder.embed(list(key))
        return self._examples[key]

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.spec.model_dump(exclude_defaults=True), sort_keys=False)


def _format_errors(exc: ValidationError) -> list[str]:
    out = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-after"))
        out.append(f"{loc or '<root>'}: {err['msg']}")
    return out


def _read_source(source: str | Path) -> str:
    if isinstance(source, Path):
        try:
            return source.read_text(encoding="utf-8")
        except OSError as exc:
            message = f"cannot read scorecard {source}: {exc.strerror}"
            raise ScorecardInvalid(message, path=str(source)) from None
    if "\n" not in source and source.strip().endswith((".yaml", ".yml")):
        return _read_source(Path(source.strip()))
    return source


def parse_scorecard(source: str | Path | dict[str, Any]) -> ScorecardSpec:
    """Parse and validate scorecard YAML (text, file path or already-loaded mapping)."""
    if isinstance(source, dict):
        data: Any = source
    else:
        try:
            data = yaml.safe_load(_read_source(source))
        except yaml.YAMLError as exc:
            raise ScorecardInvalid(f"scorecard is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ScorecardInvalid("scorecard must be a YAML mapping with 'name' and 'items'")
    try:
        return ScorecardSpec.model_validate(data)
    except ValidationError as exc:
        errors = _format_errors(exc)
        raise ScorecardInvalid("invalid scorecard: " + "; ".join(errors), errors=errors) from None


def load_scorecard(
    source: str | Path | dict[str, Any] | None, *, embedder: Embedder | None
) -> Scorecard:
    """Load a scorecard (None = the packaged default), validate it and embed its examples."""
    spec = parse_scorecard(DEFAULT_SCORECARD if source is None else source)
    card = Scorecard(spec=spec, embedder=embedder)
    for item in spec.items:
        for check in _all_checks(item):
            if isinstance(check, SemanticCheckSpec):
                card.example_vectors(check.examples)
    return card


def _all_checks(item: ItemSpec) -> list[PhraseCheckSpec | SemanticCheckSpec]:
    checks: list[PhraseCheckSpec | SemanticCheckSpec] = [*item.checks, *item.escalation_checks]
    cond = item.applies_when
    if cond is not None:
        checks += [c for c in (cond.matches, cond.not_matches) if c is not None]
    return checks


# --- scoring --------------------------------------------------------------------------------------
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def _normalise(text: str) -> str:
    return text.replace("\u2019", "'").replace("\u2018", "'").strip()


@dataclass(frozen=True)
class Hit:
    """Outcome of one check: matched or not, the evidence turns and a note."""

    matched: bool
    turns: tuple[int, ...] = ()
    note: str = ""


class CallView:
    """One transcript prepared for checks: turns by speaker and lazily embedded sentences."""

    def __init__(self, transcript: Transcript, embedder: Embedder | None) -> None:
        self.turns = tuple(t for t in transcript.turns if t.text.strip())
        self.embedder = embedder
        self._has_agent = any(t.speaker == "agent" for t in self.turns)
        self._has_customer = any(t.speaker == "customer" for t in self.turns)

    def window(self, speaker: SpeakerSel, position: Position, size: int) -> tuple[Turn, ...]:
        turns = tuple(t for t in self.turns if self._is(t, speaker))
        if position == "opening":
            return turns[:size]
        if position == "closing":
            return turns[-size:]
        return turns

    def _is(self, turn: Turn, speaker: SpeakerSel) -> bool:
        if speaker == "any" or turn.speaker == speaker:
            return True
        # Mono calls without roles: an unknown speaker may be either party.
        present = self._has_agent if speaker == "agent" else self._has_customer
        return turn.speaker == "unknown" and not present

    @cached_property
    def sentences(self) -> list[tuple[int, str]]:
        out = []
        for turn in self.turns:
            for sentence in _SENTENCE.split(_normalise(turn.text)):
                if len(sentence.split()) >= 2:
                    out.append((turn.index, sentence))
        return out

    @cached_property
    def vectors(self) -> FloatArray:
        if self.embedder is None:
            raise ScorecardInvalid("semantic checks need an embedder")
        return self.embedder.embed([s for _, s in self.sentences])


def _phrase_regexes(check: PhraseCheckSpec) -> list[re.Pattern[str]]:
    keywords = [r"\b" + re.escape(k) + r"\b" for k in check.keywords]
    return [re.compile(p, re.IGNORECASE) for p in [*check.patterns, *keywords]]


def run_phrase(check: PhraseCheckSpec, view: CallView) -> Hit:
    window = view.window(check.speaker, check.position, check.window)
    found: dict[int, list[int]] = {}
    regexes = _phrase_regexes(check)
    for i, regex in enumerate(regexes):
        found[i] = [t.index for t in window if regex.search(_normalise(t.text))]
    hits = [i for i, turns in found.items() if turns]
    matched = len(hits) == len(regexes) if check.match == "all" else bool(hits)
    if not matched:
        return Hit(False)
    # Cite the turn nearest the position checked: the last one for the close, else the first.
    pick = -1 if check.position == "closing" else 0
    turns = sorted({found[i][pick] for i in hits})
    return Hit(True, tuple(turns), "phrase")


def run_semantic(check: SemanticCheckSpec, view: CallView, card: Scorecard) -> Hit:
    allowed = {t.index for t in view.window(check.speaker, check.position, check.window)}
    rows = [i for i, (turn, _) in enumerate(view.sentences) if turn in allowed]
    if not rows:
        return Hit(False)
    sims = view.vectors[rows] @ card.example_vectors(check.examples).T
    best_per_row = sims.max(axis=1)
    best = int(np.argmax(best_per_row))
    score = float(best_per_row[best])
    if score < check.threshold:
        return Hit(False, note=f"best similarity {score:.2f} < {check.threshold:.2f}")
    turns = sorted({view.sentences[rows[i]][0] for i in np.flatnonzero(best_per_row >= check.threshold)})
    example = check.examples[int(np.argmax(sims[best]))]
    return Hit(True, tuple(turns[:5]), f"similar to {example!r} ({score:.2f})")


def run_check(check: PhraseCheckSpec | SemanticCheckSpec, view: CallView, card: Scorecard) -> Hit:
    if isinstance(check, PhraseCheckSpec):
        return run_phrase(check, view)
    return run_semantic(check, view, card)


def run_any(checks: Sequence[PhraseCheckSpec | SemanticCheckSpec], view: CallView, card: Scorecard) -> Hit:
    """The first passing check, else a miss carrying the last note."""
    note = ""
    for check in checks:
        hit = run_check(check, view, card)
        if hit.matched:
            return hit
        note = hit.note or note
    return Hit(False, note=note)


@dataclass(frozen=True)
class CallSignals:
    """What conditions look at besides the transcript."""

    flags: frozenset[str]
    decision: str
    intent: str | None


def applies(cond: ConditionSpec | None, signals: CallSignals, view: CallView, card: Scorecard) -> bool:
    """Whether an item's ``applies_when`` holds. An unknown intent counts as not matching."""
    if cond is None:
        return True
    results: list[bool] = []
    if cond.intents is not None:
        results.append(signals.intent in cond.intents)
    if cond.flags is not None:
        results.append(bool(signals.flags & set(cond.flags)))
    if cond.escalation is not None:
        results.append(signals.decision in cond.escalation)
    if cond.matches is not None:
        results.append(run_check(cond.matches, view, card).matched)
    if cond.not_matches is not None:
        results.append(not run_check(cond.not_matches, view, card).matched)
    return any(results) if cond.mode == "any" else all(results)


def score_item(item: ItemSpec, *, view: CallView, card: Scorecard, signals: CallSignals) -> QAItem:
    """Score one item: n/a when it does not apply, else pass or fail with evidence."""
    if not applies(item.applies_when, signals, view, card):
        return QAItem(id=item.id, label=item.label, result="n/a", turns=(), note="does not apply")
    escalated = signals.decision in ("suggest", "require") and bool(item.escalation_checks)
    candidates: list[Sequence[PhraseCheckSpec | SemanticCheckSpec]] = []
    if signals.decision != "require" or not item.escalation_checks:
        candidates.append(item.checks)
    if escalated:
        candidates.append(item.escalation_checks)
    hit = Hit(False)
    for checks in candidates:
        hit = run_any(checks, view, card)
        if hit.matched:
            break
    note = hit.note
    if escalated:
        note = f"escalation {signals.decision}d by the guardrail; {note}".rstrip("; ")
    result: Result = "pass" if hit.matched else "fail"
    return QAItem(id=item.id, label=item.label, result=result, turns=hit.turns, note=note)


def overall_score(items: Sequence[QAItem], weights: dict[str, float]) -> float | None:
    """Weighted share of applicable items that pass, 0-100; None when nothing applies."""
    applicable = [i for i in items if i.result != "n/a"]
    total = sum(weights[i.id] for i in applicable)
    if total <= 0:
        return None
    passed = sum(weights[i.id] for i in applicable if i.result == "pass")
    return round(100.0 * passed / total, 1)


def score_call(
    transcript: Transcript,
    *,
    scorecard: Scorecard,
    flags: Sequence[Flag] = (),
    escalation: Escalation | None = None,
    intent: IntentResult | None = None,
) -> QAResult:
    """Score one (redacted) transcript against a scorecard."""
    view = CallView(transcript, scorecard.embedder)
    signals = CallSignals(
        flags=frozenset(f.topic for f in flags),
        decision=escalation.decision if escalation is not None else "none",
        intent=intent.label if intent is not None and not intent.low_confidence else None,
    )
    if not view.turns:
        items = tuple(QAItem(id=i.id, label=i.label, result="n/a", turns=(), note="no speech")
                      for i in scorecard.items)
        return QAResult(score=None, items=items, scorecard=scorecard.name)
    items = tuple(score_item(i, view=view, card=scorecard, signals=signals) for i in scorecard.items)
    weights = {i.id: i.weight for i in scorecard.items}
    return QAResult(score=overall_score(items, weights), items=items, scorecard=scorecard.name)
