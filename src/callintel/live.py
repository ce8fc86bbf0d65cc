"""Live agent assist: one utterance in, suggestions out.

Each utterance is redacted, then only the new text is analysed (intent votes, sentiment,
urgent-topic flags, the call flow step, a knowledge-base search over the recent customer turns)
and folded into the session state; the guardrail (pure rules, no models) then runs on the
partial transcript, so an escalation warning arrives in the same response as the utterance that
triggered it. State is JSON in a ``SessionStore`` (Redis in the service: it survives an API
restart and is shared by replicas), updated under a per-session lock so utterances apply in
order. Ending a session analyses the whole transcript with ``pipeline.analyze_transcript``,
exactly like a recording, and stores it as a completed call.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from callintel.config import LiveSettings
from callintel.domain import (
    Analysis,
    Escalation,
    EscalationReason,
    Flag,
    IntentResult,
    SentimentLabel,
    SentimentResult,
    SentimentTrend,
    Speaker,
    SpeakerSentiment,
    Transcript,
    Turn,
    TurnSentiment,
    to_jsonable,
)
from callintel.errors import Conflict, InvalidInput, NotFound
from callintel.flows import FlowPosition, FlowRunner, Signal
from callintel.guardrail import GuardrailInput, decide_live
from callintel.pipeline import Analyzers, KBSearch, analyze_transcript
from callintel.understanding.flags import split_sentences
from callintel.understanding.pii import redact_turn

SPEAKERS: tuple[str, ...] = ("agent", "customer", "unknown")
MIN_WORDS = 3
"""Customer utterances shorter than this ("yes", "okay") do not vote on intent or query the KB."""
OPENING_VOTES = 4
OPENING_WEIGHT = 1.5
TREND_WINDOW = 3
TREND_STABLE = 0.15
STATE_VERSION = 1


# --- session storage -------------------------------------------------------------------------------
class SessionStore(Protocol):
    """JSON session state with a TTL and a per-session lock."""

    def create(self, key: str, state: dict[str, Any], *, ttl_s: int) -> bool: ...

    def load(self, key: str) -> dict[str, Any] | None: ...

    def save(self, key: str, state: dict[str, Any], *, ttl_s: int) -> None: ...

    def lock(self, key: str, *, timeout_s: float) -> AbstractContextManager[None]: ...


class RedisSessionStore:
    """Sessions in Redis: ``SET`` with expiry, and a Redis lock per session."""

    def __init__(self, client: Any, *, prefix: str = "callintel:live") -> None:
        self.client = client
        self.prefix = prefix

    def _key(self, key: str) -> str:
        return f"{self.prefix}:{key}"

    def create(self, key: str, state: dict[str, Any], *, ttl_s: int) -> bool:
        return bool(self.client.set(self._key(key), json.dumps(state), ex=ttl_s, nx=True))

    def load(self, key: str) -> dict[str, Any] | None:
        raw = self.client.get(self._key(key))
        return None if raw is None else dict(json.loads(raw))

    def save(self, key: str, state: dict[str, Any], *, ttl_s: int) -> None:
        self.client.set(self._key(key), json.dumps(state), ex=ttl_s)

    @contextmanager
    def lock(self, key: str, *, timeout_s: float) -> Iterator[None]:
        # The lock expires by itself if its holder dies, so a crashed replica never wedges a session.
        lock = self.client.lock(
            self._key(key) + ":lock", timeout=max(30.0, timeout_s * 3), blocking_timeout=timeout_s
        )
        if not lock.acquire():
            raise Conflict("the session is busy with another utterance; retry", session=key)
        try:
            yield
        finally:
            # Expired while held (a very slow utterance): nothing is left to release.
            with suppress(Exception):
                lock.release()


class MemorySessionStore:
    """Process-local sessions (single-process embedded mode and unit tests)."""

    def __init__(self) -> None:
        self._data: dict[str, tuple[float, str]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def create(self, key: str, state: dict[str, Any], *, ttl_s: int) -> bool:
        with self._guard:
            if self.load(key) is not None:
                return False
            self._data[key] = (time.time() + ttl_s, json.dumps(state))
            return True

    def load(self, key: str) -> dict[str, Any] | None:
        item = self._data.get(key)
        if item is None or item[0] < time.time():
            return None
        return dict(json.loads(item[1]))

    def save(self, key: str, state: dict[str, Any], *, ttl_s: int) -> None:
        self._data[key] = (time.time() + ttl_s, json.dumps(state))

    @contextmanager
    def lock(self, key: str, *, timeout_s: float) -> Iterator[None]:
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        if not lock.acquire(timeout=timeout_s):
            raise Conflict("the session is busy with another utterance; retry", session=key)
        try:
            yield
        finally:
            lock.release()


# --- inputs and outputs ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SessionStart:
    call_ref: str | None = None
    """The caller's own id for the call (stored as the call's ``external_id``)."""
    agent_id: str | None = None
    customer_id: str | None = None
    language: str = "en"


@dataclass(frozen=True, slots=True)
class Utterance:
    speaker: str
    text: str
    ts: float | None = None
    """Seconds since the start of the call; None uses the time since the session started."""


class LiveRecorder(Protocol):
    """Where sessions leave a durable trace (the service database)."""

    def prior_contacts(self, tenant: str, customer_id: str | None) -> int: ...

    def started(self, tenant: str, state: Mapping[str, Any]) -> None: ...

    def ended(self, tenant: str, state: Mapping[str, Any], analysis: Analysis) -> str:
        """Store the session as a completed call with this analysis; returns the call id."""
        ...


#: ``tenant -> flow runner`` (packaged flows merged with the tenant's own).
FlowsFor = Callable[[str], FlowRunner]
#: ``tenant -> KB search`` or None when there is no knowledge base.
KBFor = Callable[[str], KBSearch | None]


# --- the use case ------------------------------------------------------------------------------------
class LiveService:
    """Start, feed and end live sessions. Stateless itself: any instance can serve any session."""

    def __init__(
        self,
        *,
        analyzers: Analyzers,
        store: SessionStore,
        flows_for: FlowsFor,
        kb_for: KBFor | None = None,
        recorder: LiveRecorder | None = None,
        config: LiveSettings | None = None,
    ) -> None:
        self.analyzers = analyzers
        self.store = store
        self.flows_for = flows_for
        self.kb_for = kb_for
        self.recorder = recorder
        self.config = config or analyzers.settings.live

    def start(self, tenant: str, start: SessionStart) -> dict[str, Any]:
        """Create a session; returns its id and start time."""
        session_id = "live_" + uuid.uuid4().hex
        prior = self.recorder.prior_contacts(tenant, start.customer_id) if self.recorder else 0
        state = new_state(session_id, tenant, start, prior_contacts=prior)
        self.store.create(_key(tenant, session_id), state, ttl_s=self.config.session_ttl_s)
        if self.recorder:
            self.recorder.started(tenant, state)
        return {"session_id": session_id, "started_at": state["started_at"], "status": "active"}

    def state(self, tenant: str, session_id: str) -> dict[str, Any]:
        """The raw session state (404 for an unknown, expired or other tenant's session)."""
        state = self.store.load(_key(tenant, session_id))
        if state is None:
            raise NotFound("live session not found or expired", session_id=session_id)
        return state

    def add_utterance(self, tenant: str, session_id: str, utterance: Utterance) -> dict[str, Any]:
        """Apply one utterance and return the suggestions for the agent."""
        started = time.perf_counter()
        self._check(utterance)
        key = _key(tenant, session_id)
        with self.store.lock(key, timeout_s=self.config.lock_timeout_s):
            state = self.state(tenant, session_id)
            if state.get("ended"):
                raise Conflict("the live session has ended", session_id=session_id, **state["ended"])
            if len(state["turns"]) >= self.config.max_turns:
                raise Conflict("the live session has too many utterances; end it", session_id=session_id)
            response = self._apply(tenant, state, utterance)
            self.store.save(key, state, ttl_s=self.config.session_ttl_s)
        response["latency_ms"] = round((time.perf_counter() - started) * 1000.0, 2)
        return response

    def end(self, tenant: str, session_id: str) -> dict[str, Any]:
        """Analyse the whole session like a recording and store it as a completed call (idempotent)."""
        key = _key(tenant, session_id)
        with self.store.lock(key, timeout_s=max(self.config.lock_timeout_s, 60.0)):
            state = self.state(tenant, session_id)
            if state.get("ended"):
                return {"session_id": session_id, "status": "ended", **state["ended"]}
            # The call id derives from the session, so a retried end never stores a second call.
            analysis = self.final_analysis(tenant, state, call_id="call_" + session_id.removeprefix("live_"))
            call_id = self.recorder.ended(tenant, state, analysis) if self.recorder else analysis.call_id
            state["ended"] = {"call_id": call_id, "ended_at": _now()}
            self.store.save(key, state, ttl_s=self.config.session_ttl_s)
        return {"session_id": session_id, "status": "ended", **state["ended"], "analysis": analysis.to_dict()}

    def final_analysis(self, tenant: str, state: dict[str, Any], *, call_id: str) -> Analysis:
        """The post-call analysis of a session's utterances (the same function recordings use)."""
        transcript = transcript_of(state)
        kb = self.kb_for(tenant) if self.kb_for else None
        analysis, _ = analyze_transcript(
            transcript,
            analyzers=self.analyzers,
            call_id=call_id,
            kb=kb,
            contacts=int(state.get("prior_contacts", 0)),
        )
        return analysis

    # --- one utterance ------------------------------------------------------------------------------
    def _check(self, utterance: Utterance) -> None:
        if utterance.speaker not in SPEAKERS:
            raise InvalidInput(f"speaker must be one of {list(SPEAKERS)}", speaker=utterance.speaker)
        if not utterance.text.strip():
            raise InvalidInput("text must not be empty")
        if len(utterance.text) > self.config.max_utterance_chars:
            raise InvalidInput(f"text is longer than {self.config.max_utterance_chars} characters")
        if utterance.ts is not None and not (0.0 <= utterance.ts < 1e7):
            raise InvalidInput("ts must be seconds since the start of the call (>= 0)", ts=utterance.ts)

    def _apply(self, tenant: str, state: dict[str, Any], utterance: Utterance) -> dict[str, Any]:
        turn = _append_turn(state, utterance)
        customer = turn.speaker == "customer"
        query = (
            _kb_query(state, self.config.kb_context_turns)
            if customer and _words(turn.text) >= MIN_WORDS
            else ""
        )
        self._prefetch(turn, query)
        new_flags = self._flags(state, turn)
        sentiment = self._sentiment(state, turn) if customer else None
        if customer:
            self._vote_intent(state, turn)
        intent = intent_so_far(state, low=self.analyzers.settings.models.low_confidence)
        flow = self._flow(tenant, state, turn, intent=intent, flags=new_flags, sentiment=sentiment)
        if query:
            state["kb"] = self._kb(tenant, query)
        escalation = self._guardrail(state, intent=intent)
        return {
            "session_id": state["id"],
            "seq": len(state["turns"]),
            "turn": {"index": turn.index, "speaker": turn.speaker, "text": turn.text, "ts": turn.start},
            "intent": to_jsonable(intent) if intent.label else None,
            "alerts": [_flag_json(f) for f in new_flags],
            "flags": sorted(state["flags"]),
            "kb_suggestions": state.get("kb", []),
            "flow": flow,
            "sentiment": sentiment_json(state, utterance=sentiment),
            "escalation": escalation,
        }

    def _flags(self, state: dict[str, Any], turn: Turn) -> list[Flag]:
        found = self.analyzers.flags.detect_text(turn.text, speaker=turn.speaker, turn=turn.index)
        new: list[Flag] = []
        for flag in found:
            known = state["flags"].get(flag.topic)
            if known is None:
                new.append(flag)
            state["flags"][flag.topic] = _merge_flag(known, flag)
        return new

    def _sentiment(self, state: dict[str, Any], turn: Turn) -> TurnSentiment:
        scored = self.analyzers.sentiment.score_text(turn.text, turn=turn.index, speaker=turn.speaker)
        state["sentiment"].append([scored.turn, scored.label, scored.score, scored.confidence])
        return scored

    def _vote_intent(self, state: dict[str, Any], turn: Turn) -> None:
        if _words(turn.text) < MIN_WORDS:
            return
        result = self.analyzers.intent.classify_text(turn.text)
        if result.label == "other" and not result.secondary:
            return
        weight = OPENING_WEIGHT if state["intent_n"] < OPENING_VOTES else 1.0
        votes: dict[str, float] = state["intent_votes"]
        votes[result.label] = votes.get(result.label, 0.0) + weight * result.confidence
        for item in result.secondary:
            votes[item.label] = votes.get(item.label, 0.0) + weight * item.confidence
        state["intent_n"] += 1
        state["intent_weight"] += weight
        state["intent_turns"].setdefault(result.label, []).append(turn.index)

    def _flow(
        self,
        tenant: str,
        state: dict[str, Any],
        turn: Turn,
        *,
        intent: IntentResult,
        flags: list[Flag],
        sentiment: TurnSentiment | None,
    ) -> dict[str, Any] | None:
        runner = self.flows_for(tenant)
        saved = state.get("flow")
        position = FlowPosition(saved["flow_id"], saved["node_id"], tuple(saved["path"])) if saved else None
        if turn.speaker != "customer":
            flow = runner.flows.get(position.flow_id) if position else None
            if position is None or flow is None or position.node_id not in flow.nodes:
                return None
            return runner.step(flow, position.node_id, moved=False).to_dict()
        signal = Signal(
            text=turn.text,
            intent=intent.label if not intent.low_confidence else None,
            flags=frozenset(f.topic for f in flags),
            sentiment=sentiment.score if sentiment else None,
        )
        position, step = runner.advance(position, signal)
        state["flow"] = (
            {"flow_id": position.flow_id, "node_id": position.node_id, "path": list(position.path)}
            if position
            else None
        )
        return step.to_dict() if step else None

    def _prefetch(self, turn: Turn, kb_query: str) -> None:
        """Embed everything this utterance needs in one batched forward pass.

        Intent, sentiment, flags and the KB each embed their own text; the embedder keeps recent
        vectors, so warming it with one batch turns three or four model calls into one.
        """
        texts = [kb_query] if kb_query else []
        if turn.speaker != "agent":
            texts.append(turn.text)
            texts.extend(s for s in split_sentences(turn.text) if _words(s) >= MIN_WORDS)
        if texts:
            embedder = self.analyzers.models.embedder(self.analyzers.settings.models.embedder)
            embedder.embed(list(dict.fromkeys(texts)))

    def _kb(self, tenant: str, query: str) -> list[dict[str, Any]]:
        search = self.kb_for(tenant) if self.kb_for else None
        if search is None:
            return []
        return [to_jsonable(s) for s in search(query, self.config.kb_top_k)]

    def _guardrail(self, state: dict[str, Any], *, intent: IntentResult) -> dict[str, Any]:
        previous = _escalation_from(state.get("escalation"))
        decision = decide_live(
            GuardrailInput(
                transcript=transcript_of(state),
                intent=intent if intent.label else None,
                sentiment=sentiment_result(state),
                flags=flags_of(state),
                prior_contacts=int(state.get("prior_contacts", 0)),
                customer_id=state.get("customer_id"),
            ),
            policy=self.analyzers.policy,
            previous=previous,
        )
        esc = decision.escalation
        state["escalation"] = {
            "decision": esc.decision,
            "priority": esc.priority,
            "reasons": [[r.code, list(r.turns)] for r in esc.reasons],
        }
        out: dict[str, Any] = to_jsonable(esc)
        out["new_reasons"] = to_jsonable(decision.new_reasons)
        out["warning"] = _warning(esc, decision.new_reasons)
        return out


# --- state helpers ------------------------------------------------------------------------------------
def _key(tenant: str, session_id: str) -> str:
    return f"{tenant}:{session_id}"


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _words(text: str) -> int:
    return len(text.split())


def _kb_query(state: Mapping[str, Any], turns: int) -> str:
    """The recent substantive customer turns: what the customer is asking about right now."""
    recent = [t[1] for t in state["turns"] if t[0] == "customer" and _words(t[1]) >= MIN_WORDS]
    return " ".join(recent[-turns:])[-1000:]


def new_state(session_id: str, tenant: str, start: SessionStart, *, prior_contacts: int) -> dict[str, Any]:
    """The JSON state of a fresh session."""
    return {
        "v": STATE_VERSION,
        "id": session_id,
        "tenant": tenant,
        "call_ref": start.call_ref,
        "agent_id": start.agent_id,
        "customer_id": start.customer_id,
        "language": start.language,
        "started_at": _now(),
        "t0": time.time(),
        "prior_contacts": prior_contacts,
        "turns": [],
        "sentiment": [],
        "intent_votes": {},
        "intent_n": 0,
        "intent_weight": 0.0,
        "intent_turns": {},
        "flags": {},
        "flow": None,
        "escalation": None,
        "kb": [],
        "ended": None,
    }


def _append_turn(state: dict[str, Any], utterance: Utterance) -> Turn:
    turns: list[list[Any]] = state["turns"]
    ts = utterance.ts if utterance.ts is not None else max(0.0, time.time() - float(state["t0"]))
    if turns:
        ts = max(ts, float(turns[-1][2]))  # arrival order wins over a clock that went backwards
    raw = Turn(index=len(turns), speaker=_speaker(utterance.speaker), start=ts, end=ts, text=utterance.text)
    previous = turns[-1][1] if turns else ""
    redacted, _ = redact_turn(raw, previous=previous)
    turns.append([redacted.speaker, redacted.text, ts])
    return redacted


def _speaker(value: str) -> Speaker:
    return "agent" if value == "agent" else "customer" if value == "customer" else "unknown"


def transcript_of(state: Mapping[str, Any]) -> Transcript:
    """The session's (redacted) utterances as a transcript; a turn ends where the next starts."""
    rows: list[list[Any]] = state["turns"]
    turns = []
    for i, (speaker, text, ts) in enumerate(rows):
        default_end = float(ts) + max(1.0, 0.4 * _words(text))
        end = min(float(rows[i + 1][2]), default_end) if i + 1 < len(rows) else default_end
        turns.append(
            Turn(index=i, speaker=_speaker(speaker), start=float(ts), end=max(end, float(ts)), text=text)
        )
    duration = turns[-1].end if turns else 0.0
    return Transcript(
        turns=tuple(turns), language=str(state.get("language") or "en"), duration_s=duration, channels=2
    )


def intent_so_far(state: Mapping[str, Any], *, low: float) -> IntentResult:
    """The call driver from the customer's utterances so far (opening turns weigh more)."""
    votes: dict[str, float] = state["intent_votes"]
    total = float(state["intent_weight"])
    if not votes or total <= 0:
        return IntentResult(label="", confidence=0.0, low_confidence=True)
    label = max(votes, key=lambda k: votes[k])
    confidence = min(1.0, votes[label] / total)
    turns = tuple(state["intent_turns"].get(label, []))[:3]
    return IntentResult(
        label=label, confidence=round(confidence, 4), turns=turns, low_confidence=confidence < low
    )


def sentiment_result(state: Mapping[str, Any]) -> SentimentResult | None:
    """The customer's per-utterance sentiment, average and trend so far."""
    rows = state["sentiment"]
    if not rows:
        return None
    turns = tuple(TurnSentiment(int(r[0]), "customer", r[1], float(r[2]), float(r[3])) for r in rows)
    mean = sum(t.score for t in turns) / len(turns)
    label: SentimentLabel = "negative" if mean < -0.2 else "positive" if mean > 0.2 else "neutral"
    return SentimentResult(
        turns=turns,
        by_speaker={"customer": SpeakerSentiment(label, round(mean, 4), len(turns))},
        trend=_trend([t.score for t in turns]),
    )


def _trend(scores: list[float]) -> SentimentTrend | None:
    if len(scores) < 2:
        return None
    window = min(TREND_WINDOW, max(1, len(scores) // 2))
    start = sum(scores[:window]) / window
    end = sum(scores[-window:]) / window
    delta = end - start
    direction: Literal["improving", "worsening", "stable"] = (
        "improving" if delta > TREND_STABLE else "worsening" if delta < -TREND_STABLE else "stable"
    )
    return SentimentTrend(
        start=round(start, 4), end=round(end, 4), delta=round(delta, 4), direction=direction
    )


def sentiment_json(state: Mapping[str, Any], *, utterance: TurnSentiment | None) -> dict[str, Any]:
    result = sentiment_result(state)
    customer = result.by_speaker.get("customer") if result else None
    return {
        "utterance": to_jsonable(utterance),
        "customer": to_jsonable(customer),
        "trend": to_jsonable(result.trend) if result else None,
        "recent": [round(float(r[2]), 3) for r in state["sentiment"][-10:]],
    }


def _merge_flag(known: dict[str, Any] | None, flag: Flag) -> dict[str, Any]:
    if known is None:
        return {
            "turns": list(flag.turns),
            "confidence": flag.confidence,
            "raised_by": flag.raised_by,
            "evidence": list(flag.evidence),
            "low_confidence": flag.low_confidence,
        }
    known["turns"] = sorted(set(known["turns"]) | set(flag.turns))
    known["confidence"] = max(float(known["confidence"]), flag.confidence)
    known["evidence"] = (known["evidence"] + list(flag.evidence))[:3]
    known["low_confidence"] = bool(known["low_confidence"]) and flag.low_confidence
    return known


def flags_of(state: Mapping[str, Any]) -> tuple[Flag, ...]:
    return tuple(
        Flag(
            topic=topic,
            turns=tuple(v["turns"]),
            confidence=float(v["confidence"]),
            raised_by=v["raised_by"],
            evidence=tuple(v["evidence"]),
            low_confidence=bool(v["low_confidence"]),
        )
        for topic, v in state["flags"].items()
    )


def _flag_json(flag: Flag) -> dict[str, Any]:
    out: dict[str, Any] = to_jsonable(flag)
    return out


def _escalation_from(saved: Mapping[str, Any] | None) -> Escalation | None:
    if not saved:
        return None
    reasons = tuple(EscalationReason(code=c, turns=tuple(t)) for c, t in saved["reasons"])
    return Escalation(
        decision=saved["decision"], priority=saved["priority"], reasons=reasons, handoff_brief=None
    )


def _warning(esc: Escalation, new: tuple[EscalationReason, ...]) -> str | None:
    """The one-line warning shown to the agent when the guardrail found something new."""
    if not new or esc.decision == "none":
        return None
    codes = ", ".join(r.code.replace("_", " ") for r in new)
    verb = "Transfer to a supervisor now" if esc.decision == "require" else "Consider escalating"
    return f"{verb} ({esc.priority} priority): {codes}."


# --- the service database as recorder --------------------------------------------------------------
class SqlLiveRecorder:
    """Sessions in ``live_sessions``; ended sessions as completed calls (source ``live``)."""

    def __init__(self, sessions: Any, *, repeat_contact_days: int, job_deadline_s: int = 3600) -> None:
        self.sessions = sessions
        self.repeat_contact_days = repeat_contact_days
        self.job_deadline_s = job_deadline_s

    def prior_contacts(self, tenant: str, customer_id: str | None) -> int:
        from callintel.storage import repo

        if not customer_id:
            return 0
        with self.sessions() as session:
            return repo.count_recent_contacts(
                session, tenant_id=tenant, customer_id=customer_id, days=self.repeat_contact_days
            )

    def started(self, tenant: str, state: Mapping[str, Any]) -> None:
        from callintel.storage import repo
        from callintel.storage.db import transaction
        from callintel.storage.models import LiveSession

        with transaction(self.sessions) as session:
            repo.ensure_tenant(session, tenant)
            session.add(
                LiveSession(
                    id=state["id"],
                    tenant_id=tenant,
                    call_id=state.get("call_ref"),
                    state={"agent_id": state.get("agent_id"), "customer_id": state.get("customer_id")},
                )
            )

    def ended(self, tenant: str, state: Mapping[str, Any], analysis: Analysis) -> str:
        from callintel.storage import repo
        from callintel.storage.db import transaction
        from callintel.storage.models import LiveSession, utcnow

        with transaction(self.sessions) as session:
            if repo.get_call_by_id(session, analysis.call_id) is not None:
                return analysis.call_id  # stored by an earlier attempt whose reply was lost
            call = repo.create_call(
                session,
                repo.NewCall(
                    tenant_id=tenant,
                    source="live",
                    external_id=state.get("call_ref"),
                    agent_id=state.get("agent_id"),
                    customer_id=state.get("customer_id"),
                    started_at=datetime.fromisoformat(state["started_at"]),
                    language=analysis.language,
                ),
                call_id=analysis.call_id,
            )
            job = repo.create_job(session, call_id=call.id, deadline_s=self.job_deadline_s)
            repo.store_analysis(
                session,
                call=call,
                job=job,
                document=analysis.to_dict(),
                raw_transcript=None,
                redacted_audio_key=None,
            )
            row = session.get(LiveSession, state["id"])
            if row is not None:
                row.ended_at = utcnow()
                row.state = {**(row.state or {}), "call_id": call.id, "turns": len(state["turns"])}
        return analysis.call_id


def packaged_flow_runner(tenant_flows: Callable[[str], Mapping[str, Any] | None]) -> FlowsFor:
    """``tenant -> FlowRunner`` over the packaged flows plus the tenant's (cached until they change)."""
    from callintel.flows import merge_flows, packaged_flows

    base = packaged_flows()
    default = FlowRunner(base)
    cache: dict[str, tuple[str, FlowRunner]] = {}

    def flows_for(tenant: str) -> FlowRunner:
        own = tenant_flows(tenant)
        if not own:
            return default
        token = json.dumps(own, sort_keys=True, default=str)
        hit = cache.get(tenant)
        if hit is None or hit[0] != token:
            hit = (token, FlowRunner(merge_flows(base, own)))
            cache[tenant] = hit
        return hit[1]

    return flows_for
