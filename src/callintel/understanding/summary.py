"""Extractive, evidence-linked call summary: reason, agent actions, outcome, next steps.

Every item is a sentence of the transcript (lightly normalised: fillers dropped, first letter
capitalised) with the turn it came from; nothing is generated. Amounts and dates on next steps are
substrings of their sentence. An abstractive backend can be added behind :class:`Summarizer`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from callintel.domain import Flag, IntentResult, Outcome, Speaker, Summary, SummaryItem, Transcript

_SPLIT = re.compile(r"(?<=[.!?])\s+|\n+")
_FILLER_START = re.compile(
    r"^(?:(?:um+|uh+|erm|er|ah|oh|so|well|yeah|yes|okay|ok|right|alright|hi|hello|hey|look|listen|"
    r"anyway|and|but)\b[,.!]?\s+)+",
    re.IGNORECASE,
)
_FILLER_MID = re.compile(r",?\s+\b(?:um+|uh+|erm|you\s+know)\b,?(?=[\s.!?]|$)", re.IGNORECASE)
_NEGATED_ACTION = re.compile(
    r"\b(?:can't|cannot|can\s+not|couldn't|unable|won't|not\s+able|didn't|haven't|wasn't|weren't)\b", re.I
)


@dataclass(frozen=True, slots=True)
class Sentence:
    turn: int
    speaker: Speaker
    text: str
    position: float
    """Where in the call it falls, 0 (start) to 1 (end)."""

    @property
    def is_question(self) -> bool:
        return self.text.rstrip().endswith("?")


def normalise(text: str) -> str:
    """Drop fillers and leading discourse words, keep the words otherwise as spoken."""
    out = _FILLER_MID.sub("", _FILLER_START.sub("", text.strip()))
    out = re.sub(r"\s+", " ", out).strip(" ,")
    if out and out[0].islower():
        out = out[0].upper() + out[1:]
    if out and out[-1] not in ".!?":
        out += "."
    return out


def sentences(transcript: Transcript) -> list[Sentence]:
    turns = transcript.turns
    count = max(len(turns) - 1, 1)
    out: list[Sentence] = []
    for rank, turn in enumerate(turns):
        for piece in _SPLIT.split(turn.text):
            if piece.strip():
                out.append(Sentence(turn.index, turn.speaker, piece.strip(), rank / count))
    return out


class Summarizer(Protocol):
    """Anything that turns a transcript (plus intent and flags) into a :class:`Summary`."""

    def summarize(
        self, transcript: Transcript, *, intent: IntentResult | None, flags: Sequence[Flag]
    ) -> Summary: ...


# --- reason for the call ----------------------------------------------------------------------
_REASON_CUES: tuple[tuple[re.Pattern[str], float], ...] = tuple(
    (re.compile(p, re.IGNORECASE), w)
    for p, w in (
        (r"\b(?:calling|call|called|phoning|ringing)\s+(?:you\s+)?"
         r"(?:about|because|regarding|to|since|for)\b", 3.0),
        (r"\b(?:i'm|i\s+am|we're|we\s+are)\s+"
         r"(?:having|trying|wondering|looking|getting|seeing|unable)\b", 2.0),
        (r"\b(?:i\s+want|i'd\s+like|i\s+would\s+like|i\s+need|can\s+you|could\s+you|how\s+do\s+i|can\s+i|"
         r"i\s+wanna|i\s+was\s+hoping)\b", 1.5),
        (r"\b(?:problem|issue|trouble|error|broken|damaged|wrong|charged|overcharged|twice|double|missing|late|"
         r"never\s+(?:arrived|came|got)|hasn't|haven't|doesn't|won't|can't|isn't|not\s+working|stopped|still|"
         r"locked|declined|cancel\w*|refund|outage|down|keeps?|kept|drop\w*|slow|stuck|fail\w*|crash\w*|"
         r"freez\w*|frozen|disconnect\w*|lost|stolen|hacked|delay\w*|expired|incorrect|defective|faulty|"
         r"dead|bill(?:ed)?|charges?|fraud\w*|dispute)\b", 2.0),
        (r"\bmy\s+(?:bill|order|account|internet|service|card|package|phone|subscription|payment|refund|"
         r"delivery|router|modem|appointment|plan|password|statement|invoice)\b", 1.0),
    )
)
_NOT_REASON = re.compile(
    r"^(?:(?:yes|yeah|yep|no|nope|sure|okay|ok|thanks?|thank\s+you|hi|hello|bye|goodbye|great|perfect|"
    r"alright|right|correct|that's\s+(?:right|correct|it|all))\b[\s,.!]*)+$"
    r"|\b(?:thank\s+you\s+for\s+calling|how\s+(?:can|may)\s+i\s+(?:help|assist)|my\s+name\s+is|"
    r"is\s+there\s+anything\s+else|have\s+a\s+(?:great|good|nice)\s+day)\b",
    re.IGNORECASE,
)
_TAG = re.compile(r"\[[A-Z]+\]")


def reason_score(s: Sentence, *, intent_turns: frozenset[int], flag_turns: frozenset[int]) -> float:
    """How much a customer sentence looks like the statement of the problem."""
    words = len(s.text.split())
    if _NOT_REASON.search(s.text) or words < 3:
        return 0.0
    score = sum(w for p, w in _REASON_CUES if p.search(s.text))
    if s.turn in intent_turns:
        score += 3.0  # the intent classifier found the call driver here
    if s.turn in flag_turns:
        score += 1.0
    if _TAG.search(s.text) and words < 8:
        score -= 2.0  # an answer to a verification question ("sure, it's [ACCOUNT]")
    return score - 1.5 * s.position


def find_reason(
    items: Sequence[Sentence], *, intent: IntentResult | None, flags: Sequence[Flag]
) -> SummaryItem | None:
    """The customer sentence (plus its follow-up in the same turn) that states why they called."""
    intent_turns = frozenset(intent.turns) if intent else frozenset()
    flag_turns = frozenset(t for f in flags if f.raised_by != "agent" for t in f.turns)
    pool = [s for s in items if s.speaker != "agent" and s.position <= 0.6]
    scores = [reason_score(s, intent_turns=intent_turns, flag_turns=flag_turns) for s in pool]
    scored = [(sc, i) for i, sc in enumerate(scores) if sc >= 1.5]
    if not scored:
        return _first_statement(pool)
    _, best = max(scored, key=lambda x: (x[0], -x[1]))
    chosen = [pool[best]]
    nxt = pool[best + 1] if best + 1 < len(pool) else None
    short = len(chosen[0].text.split()) < 25
    if nxt is not None and nxt.turn == chosen[0].turn and short and scores[best + 1] >= 1.5:
        chosen.append(nxt)
    return SummaryItem(
        text=" ".join(normalise(s.text) for s in chosen), turns=tuple(sorted({s.turn for s in chosen})),
        kind="reason",
    )


def _first_statement(pool: Sequence[Sentence]) -> SummaryItem | None:
    """Fallback: the customer's first substantive sentence (the summary is then low-confidence)."""
    for s in pool:
        if len(s.text.split()) >= 5 and not s.is_question and not _NOT_REASON.search(s.text):
            return SummaryItem(text=normalise(s.text), turns=(s.turn,), kind="reason_guess")
    return None


# --- what the agent did -----------------------------------------------------------------------
_DONE = (
    r"(?:i've|i\s+have|i|we've|we\s+have|we|i\s+just|i've\s+just|i\s+went\s+ahead\s+and|"
    r"i'll\s+go\s+ahead\s+and|let\s+me)"
)


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


ACTIONS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("verified_account", _rx(
        r"\b(?:verified|confirmed|authenticated|validated)\s+(?:your|the)\s+(?:account|identity|details|"
        r"information|info)\b|\b(?:you're|you\s+are|you've\s+been|you\s+have\s+been)\s+(?:verified|authenticated)\b"
        r"|\bthanks?\s+(?:you\s+)?for\s+verifying\b")),
    ("reset_password", _rx(
        r"\b(?:reset|resetting)\s+(?:your|the)\s+password\b|\bpassword\s+(?:has\s+been|was|is\s+now)\s+reset\b"
        r"|\bsent\s+(?:you\s+)?(?:a|the)\s+(?:password\s+)?reset\s+link\b")),
    ("issued_refund", _rx(
        rf"\b{_DONE}\s+(?:processed|issued|initiated|submitted|put\s+through|refunded|approved|process|issue)\b"
        r"[^.?!]*\b(?:refund|credit|reimbursement)|\b(?:refund|reimbursement)\s+(?:has\s+been|was|is\s+being|is)\s+"
        r"(?:processed|issued|initiated|submitted|approved|on\s+its\s+way)\b")),
    ("applied_credit", _rx(
        rf"\b{_DONE}\s+(?:applied|added|put|credited|waived|removed)\b[^.?!]*\b(?:credit|discount|fee|late\s+fee|"
        r"charge|your\s+account)\b")),
    ("cancelled", _rx(
        rf"\b{_DONE}\s+(?:cancel+ed|closed|terminated|deactivated|cancel|close)\b[^.?!]*\b(?:account|subscription|"
        r"service|plan|membership|contract|order)|\b(?:account|subscription|service|plan|membership|contract|order)"
        r"\s+(?:has\s+been|is\s+now|was|is)\s+(?:cancel+ed|closed|terminated|deactivated)\b")),
    ("transferred", _rx(
        r"\b(?:transfer(?:ring)?|connect(?:ing)?|put(?:ting)?\s+you\s+through|pass(?:ing)?\s+you)\b[^.?!]*"
        r"\b(?:supervisor|manager|department|team|specialist|billing|support|colleague|technician|agent)\b")),
    ("escalated", _rx(r"\b(?:escalated|escalating|escalate)\b")),
    ("opened_ticket", _rx(
        r"\b(?:opened|created|raised|logged|filed|submitted|open|create|log|file)\s+"
        r"(?:a|an|the)\s+(?:\w+\s+)?(?:ticket|case|claim|report|complaint|investigation|request)\b")),
    ("scheduled", _rx(
        r"\b(?:scheduled|booked|set\s+up|arranged|rescheduled|schedule|book)\b[^.?!]*\b(?:appointment|technician|"
        r"visit|callback|call\s+back|delivery|installation|engineer|pickup|for\s+(?:monday|tuesday|wednesday|"
        r"thursday|friday|saturday|sunday|tomorrow))\b")),
    ("sent", _rx(
        rf"\b{_DONE}\s+(?:sent|emailed|texted|resent|re-sent|forwarded)\b")),
    ("updated_account", _rx(
        rf"\b{_DONE}\s+(?:updated|changed|corrected|added|removed|upgraded|downgraded|switched|activated|"
        r"reactivated|unlocked|restored)\b[^.?!]*\b(?:address|email|phone|payment|card|plan|billing|account|"
        r"details|information|number|name|line|service|package|subscription)\b")),
    ("replacement", _rx(
        r"\b(?:shipped|sent\s+out|ordered|arranged|issued|ship|send\s+out)\s+(?:you\s+)?(?:a|the)\s+"
        r"(?:replacement|new\s+(?:one|device|unit|card|router|modem|phone))\b"
        r"|\breplacement\s+(?:has\s+been|is\s+being|was)\s+(?:sent|shipped|ordered)\b")),
    ("troubleshooting", _rx(
        r"\b(?:restart|reboot|power\s+cycle|unplug|reset|refresh|update|reinstall)\s+(?:your|the)\s+(?:router|"
        r"modem|device|phone|app|computer|box|connection|settings)\b|\b(?:refreshed|re-?provisioned|sent\s+a\s+"
        r"(?:refresh|reset)\s+signal|pushed\s+an?\s+update|(?:ran|run|running)\s+an?\s+(?:\w+\s+)?(?:test|diagnostic|check))\b")),
    ("looked_up", _rx(
        r"\b(?:i've|i\s+have|i)\s+(?:checked|looked\s+(?:up|into|at)|pulled\s+up|reviewed|found)\b"
        r"|\bi\s+(?:can\s+)?see\s+(?:that|there|the|a|an|your)\b")),
)


def find_actions(items: Sequence[Sentence], *, limit: int = 6) -> tuple[SummaryItem, ...]:
    """Agent statements of things done (or being done now), one item per kind of action."""
    found: dict[str, SummaryItem] = {}
    for s in items:
        if s.speaker == "customer" or s.is_question or _NEGATED_ACTION.search(s.text):
            continue
        for kind, pattern in ACTIONS:
            if kind not in found and pattern.search(s.text):
                found[kind] = SummaryItem(text=normalise(s.text), turns=(s.turn,), kind=kind)
                break
    ordered = sorted(found.values(), key=lambda i: i.turns[0])
    # "looked_up" is the weakest kind of action; it goes first when over the limit.
    if len(ordered) > limit:
        ordered = [i for i in ordered if i.kind != "looked_up"][:limit]
    return tuple(ordered)


# --- outcome ----------------------------------------------------------------------------------
_ESCALATED = _rx(
    r"\b(?:transfer(?:ring)?|connect(?:ing)?|put(?:ting)?|pass(?:ing)?|hand(?:ing)?)\s+you\s+(?:through|over|"
    r"to|now|across)\b"
    r"|\b(?:transfer(?:ring)?|connect(?:ing)?)\b[^.?!]*\b(?:supervisor|manager|specialist|department|team|"
    r"colleague|tier\s+two|second\s+line)\b"
    r"|\b(?:escalated|escalating|i'll\s+escalate|i\s+will\s+escalate|let\s+me\s+escalate)\b"
    r"|\b(?:get|grab|bring\s+in|fetch)\s+(?:my|a|the)\s+(?:supervisor|manager)\b"
    r"|\bstay\s+on\s+the\s+line\s+until\s+(?:they|someone|somebody|the\s+\w+)\s+(?:picks?|answers?|joins?)\b"
)
#: Waiting on someone or something after the call: a review, a callback, a visit, a back order.
_PENDING = _rx(
    r"\b(?:look\s+into|investigate|investigating|get\s+back\s+to\s+you|follow\s+up\s+with\s+you|"
    r"call\s+you\s+back|be\s+in\s+touch|hear\s+back|waiting\s+(?:on|for)|pending\s+(?:review|approval)|"
    r"under\s+review|for\s+review|to\s+review|(?:once|when|as\s+soon\s+as)\s+(?:it's|it\s+is|it\s+gets|we|they)\s+"
    r"(?:resolved|fixed|hear|receive|approve|confirm)|waitlist|wait\s+list|back[\s-]?order(?:ed)?|"
    r"estimated\s+(?:date|delivery|time)|don't\s+have\s+an?\s+(?:exact\s+)?(?:time|date|eta)|"
    r"(?:will|'ll|is\s+going\s+to)\s+(?:call|contact|ring|phone)\s+you)\b"
    r"|\b(?:send|sending|pass|passing|forward|forwarding|refer|referring|raise|raising)\s+(?:it|this|that|"
    r"your\s+\w+)\s+(?:on\s+|over\s+)?to\s+(?:our|the)\s+(?:\w+\s+)?(?:team|department)\b"
    r"|\bif\s+they\s+(?:approve|agree|correct|confirm|accept)\b|\b(?:needs?|requires?)\s+(?:\S+\s+){0,2}approval\b"
    r"|\b(?:as\s+soon\s+as|once)\s+(?:\w+\s+){0,3}(?:scans?|scanned|receives?|received|arrives?|approves?|"
    r"approved|confirms?|returns?|returned|exported|reaches)\b"
    r"|\b(?:ticket|case|claim|request|report)\s+(?:number|has\s+been\s+(?:opened|created|logged|raised)|"
    r"was\s+(?:opened|created|logged)|is\s+open)\b"
    r"|\b(?:technician|engineer|installer)\s+(?:will|is\s+going\s+to|can|should)\s+(?:come|visit|be\s+there|"
    r"stop\s+by|arrive|call)\b|\b(?:opened|created|logged|raised|filed)\s+(?:a|an)\s+(?:\w+\s+)?(?:ticket|case|claim)\b"
)
#: Pending cues that only describe a booked visit: when booking was the point of the call, it is done.
_BOOKING_ONLY = _rx(r"\b(?:technician|engineer|installer)\b|\b(?:will|'ll)\s+(?:call|ring|phone)\s+you\b")
_RESOLVED_AGENT = _rx(
    r"\b(?:you're|you\s+are)\s+(?:all\s+)?(?:set|booked|scheduled|confirmed|sorted)\b|^done\b"
    r"|\b(?:that's|that\s+is|it's|it\s+is|everything's|everything\s+is)\s+"
    r"(?:been\s+|now\s+|all\s+)?(?:taken\s+care\s+of|sorted|fixed|resolved|done|working)\b"
    r"|\bglad\s+(?:we|i)\s+(?:could|were\s+able\s+to|was\s+able\s+to|got\s+(?:that|it|this))\b"
    r"|\b(?:has\s+been|is\s+now|is)\s+(?:processed|cancel+ed|updated|reset|applied|issued|refunded|fixed|resolved|"
    r"restored|activated|unlocked|removed|waived|credited|closed|booked|confirmed|reversed)\b"
    r"|\bis\s+now\s+(?:active|working|live)\b"
    r"|\b(?:i've|i\s+have|i)\s+(?:just\s+|now\s+)?(?:refunded|reversed|waived|fixed|booked|scheduled|closed|cancel+ed|"
    r"reset|updated|unlocked|credited|removed|resent|replaced|frozen|suspended|restored)\b"
    r"|\bout\s+for\s+delivery\b"
)
_RESOLVED_CUSTOMER = _rx(
    r"\b(?:it|that|everything)(?:'s|\s+is)\s+(?:working|fixed|sorted|perfect|great)\b|\bit\s+works\b"
    r"|\bthat\s+(?:worked|fixed\s+it|did\s+it|did\s+the\s+trick|solves\s+it|helps|helped|answers)\b"
    r"|\b(?:perfect|great|awesome|excellent|wonderful|brilliant|lovely|fantastic)\b|\bproblem\s+solved\b"
    r"|\bthat's\s+(?:all|everything|it)\b|\bno,?\s+that's\s+(?:all|it|everything)\b"
    r"|\b(?:that|this|it|that's|this\s+is|it's|\w+'s)\s+(?:fine|good|great|perfect|ok|okay|kind|helpful)\b|\bsounds\s+good\b"
    r"|\bthanks?\s+(?:you\s+)?(?:so\s+much|very\s+much|a\s+lot)\b|\bappreciate\s+(?:it|your\s+help|that)\b"
    r"|\b(?:thanks|thank\s+you)\s+for\s+(?:your|the|all|making|sorting|helping|fixing)\b"
)
_UNRESOLVED = _rx(
    r"\b(?:still|not)\s+(?:working|fixed|resolved|sorted)\b|\b(?:this|that)\s+(?:doesn't|does\s+not|didn't|did\s+not)"
    r"\s+help\b|\b(?:not|isn't|un)\s*(?:acceptable|happy|satisfied)\b|\bunacceptable\b|\bridiculous\b|"
    r"\bwaste\s+of\s+(?:my\s+)?time\b|\bforget\s+it\b|\bnever\s+mind\b|\bi'm\s+(?:hanging|going\s+to\s+hang)\s+up\b"
    r"|\bnothing\s+(?:more\s+)?(?:i|we)\s+can\s+do\b|\b(?:unfortunately|sorry),?\s+(?:i|we)\s+(?:can't|cannot|"
    r"am\s+unable|are\s+unable|won't\s+be\s+able|don't\s+have)\b|\bno\s+(?:solution|fix|way\s+to)\b"
    r"|\bunfortunately\b[^.?!]*\b(?:doesn't|does\s+not|don't|do\s+not|can't|cannot|isn't|is\s+not|won't|aren't)\b"
    r"|\bthanks?\s+(?:you\s+)?anyway\b|\bdisappoint(?:ing|ed)\b|\b(?:that's|it's|that\s+is|what)\s+a\s+shame\b"
    r"|\bnothing\s+(?:else\s+)?(?:you|you\s+guys|anyone)\s+can\s+do\b"
    r"|\b(?:isn't|is\s+not|not)\s+(?:planned|possible|available|supported)\b"
)
_THANKS = _rx(r"\b(?:thanks|thank\s+you|cheers|bye|goodbye|have\s+a\s+(?:nice|good|great)\s+day)\b")


def _hits(items: Sequence[Sentence], pattern: re.Pattern[str], *, speakers: frozenset[str]) -> list[Sentence]:
    return [s for s in items if s.speaker in speakers and pattern.search(s.text)]


AGENT = frozenset({"agent", "unknown"})
CUSTOMER = frozenset({"customer", "unknown"})


def find_outcome(
    items: Sequence[Sentence], *, intent: IntentResult | None = None
) -> tuple[Outcome, tuple[int, ...], bool]:
    """Outcome, the turns that show it, and whether it is a guess (no explicit cue).

    Order of precedence: a transfer or escalation during the call; dissatisfaction that nothing
    later answers; something still to happen after the call (a review, a callback, a visit);
    a statement that it is done, or a satisfied close.
    """
    late = [s for s in items if s.position >= 0.5]
    escalated = [s for s in _hits(items, _ESCALATED, speakers=AGENT) if not s.is_question]
    if escalated:
        return "escalated", _turns(escalated), False
    unresolved = [s for s in _hits(late, _UNRESOLVED, speakers=CUSTOMER | AGENT) if not _conditional(s.text)]
    resolved = [
        *_hits(late, _RESOLVED_CUSTOMER, speakers=CUSTOMER), *_hits(late, _RESOLVED_AGENT, speakers=AGENT)
    ]
    closing = _satisfied_close(items)
    last_resolved = max((s.position for s in [*resolved, *([closing] if closing else [])]), default=-1.0)
    if unresolved and max(s.position for s in unresolved) > last_resolved:
        return "unresolved", _turns(unresolved), False
    # Early in a call, such words describe the history ("a claim was opened"), not the outcome.
    pending = [s for s in _hits(items, _PENDING, speakers=AGENT) if not s.is_question and s.position >= 0.4]
    if intent is not None and intent.label == "appointment":
        pending = [s for s in pending if not _BOOKING_ONLY.search(s.text)]
    if pending:
        return "pending", _turns(pending), False
    if resolved:
        return "resolved", _turns(resolved), False
    if closing is not None:
        return "resolved", (closing.turn,), False
    return "unresolved", (), True


def _conditional(text: str) -> bool:
    """An unresolved cue inside an "if" clause is a condition ("if it's not sorted by Friday")."""
    m = _UNRESOLVED.search(text)
    return m is not None and re.search(r"\b(?:if|unless|in\s+case)\b", text[:m.start()], re.I) is not None


def _satisfied_close(items: Sequence[Sentence]) -> Sentence | None:
    """The customer's last turn when it thanks without complaint: most calls that end so are resolved."""
    last = next((s for s in reversed(items) if s.speaker in CUSTOMER), None)
    if last is None or last.position < 0.5:
        return None
    turn = [s for s in items if s.turn == last.turn]
    if any(_UNRESOLVED.search(s.text) for s in turn):
        return None
    return next((s for s in turn if _THANKS.search(s.text)), None)


def _turns(items: Sequence[Sentence], *, keep: int = 3) -> tuple[int, ...]:
    return tuple(sorted({s.turn for s in items}))[-keep:]


# --- next steps and promised follow-ups -------------------------------------------------------
_FUTURE = _rx(
    r"\b(?:will|'ll|going\s+to|gonna|should|shall|within|expect|next|please|need\s+to|make\s+sure|"
    r"remember\s+to|by\s+(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|tomorrow|the\s+end)|"
    r"tomorrow|later\s+today|in\s+the\s+next)\b"
)
NEXT_STEPS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("callback", _rx(
        r"\bcall\s+(?:you|me|us)\s+back\b|\bcall\s*back\b|\bgive\s+you\s+a\s+(?:call|ring)\b|"
        r"\b(?:call|contact|phone|reach\s+out\s+to)\s+you\b|\bfollow\s+up\s+with\s+you\b|\bget\s+back\s+to\s+you\b")),
    ("email", _rx(
        r"\b(?:send|sending|email|e-mail|text)\s+(?:you\s+|over\s+)?(?:an?\s+|the\s+)?(?:\w+\s+)?(?:email|e-mail|"
        r"confirmation|receipt|link|copy|details|summary|text|invoice|label)\b"
        r"|\b(?:receive|get|see)\s+(?:an?\s+|the\s+)?(?:\w+\s+)?(?:email|e-mail|confirmation|text\s+message|sms)\b"
        r"|\b(?:check|look\s+in)\s+your\s+(?:email|inbox)\b")),
    ("appointment", _rx(
        r"\b(?:technician|engineer|installer|appointment|visit|installation)\b")),
    ("refund", _rx(r"\b(?:refund|reimburse\w*|credit(?:ed)?\s+back|money\s+back|credit\s+(?:of|for))\b")),
    ("email", _rx(r"\b(?:email|e-mail|inbox|confirmation|receipt)\b")),
    ("other", _rx(
        r"\b(?:you(?:'ll|\s+will)\s+need\s+to|please\s+(?:restart|check|call|bring|return|send|keep|try|reply|"
        r"monitor|wait|let\s+us\s+know)|make\s+sure\s+to|remember\s+to|should\s+(?:arrive|see|receive|get|show|"
        r"appear|reflect|be\s+(?:delivered|there|back))|will\s+(?:arrive|be\s+delivered|ship|show\s+up)|"
        r"(?:new|replacement)\s+(?:card|device|router|modem|one)\s+will)\b")),
)
_NUMBER_WORD = (
    r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|"
    r"sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|"
    r"hundred|thousand)"
)
_AMOUNT = _rx(
    r"[$£€]\s?\d[\d,]*(?:\.\d{1,2})?"
    r"|\b\d[\d,]*(?:\.\d{1,2})?\s+(?:dollars?|bucks|usd|euros?|pounds?)\b"
    rf"|\b{_NUMBER_WORD}(?:[\s-]+(?:and\s+)?{_NUMBER_WORD})*\s+(?:dollars?|bucks|euros?|pounds?)"
    rf"(?:\s+and\s+{_NUMBER_WORD}(?:[\s-]+{_NUMBER_WORD})*\s+cents)?\b"
)
_DAY = r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
_MONTH = (
    r"(?:january|february|march|april|may|june|july|august|september|october|november|december)"
)
_QTY = rf"(?:\d+|{_NUMBER_WORD}|a\s+couple\s+of|a\s+few|a|an)"
_DATE = _rx(
    rf"\b(?:within|in|over\s+the\s+next|up\s+to|about|around)\s+(?:the\s+next\s+)?{_QTY}(?:\s*(?:to|-|or)\s*{_QTY})?"
    r"\s+(?:business\s+|working\s+|calendar\s+)?(?:days?|hours?|weeks?|months?|minutes?)\b"
    rf"|\b{_QTY}\s*(?:to|-)\s*{_QTY}\s+(?:business\s+|working\s+)?(?:days?|hours?|weeks?)\b"
    rf"|\b(?:by|on|this|next|until|before|after)\s+(?:(?:the\s+)?end\s+of\s+(?:the\s+)?(?:day|week|month)|{_DAY}|"
    rf"tomorrow|today|tonight|next\s+(?:week|month|{_DAY})|(?:the\s+)?\d{{1,2}}(?:st|nd|rd|th)|{_MONTH}\s+\d{{1,2}}"
    r"(?:st|nd|rd|th)?|week|month)\b"
    rf"|\b(?:tomorrow|today|tonight|later\s+today)(?:\s+(?:morning|afternoon|evening))?\b"
    rf"|\b{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?\b"
    r"|\bbetween\s+\d{1,2}(?::\d{2})?\s*(?:am|pm|a\.m\.|p\.m\.)?\s+and\s+\d{1,2}(?::\d{2})?\s*(?:am|pm|a\.m\.|p\.m\.)?"
)


def find_next_steps(items: Sequence[Sentence], *, limit: int = 6) -> tuple[SummaryItem, ...]:
    """Promises and follow-ups, with the amount and date when the sentence states them."""
    steps: list[SummaryItem] = []
    seen: set[str] = set()
    for i, s in enumerate(items):
        if s.is_question or not _FUTURE.search(s.text) or _NEGATED_ACTION.search(s.text):
            continue
        kind = next((k for k, p in NEXT_STEPS if p.search(s.text)), None)
        if kind is None:
            continue
        text = normalise(s.text)
        if text.lower() in seen:
            continue
        seen.add(text.lower())
        amount, amount_turn = _amount_near(items, at=i) if kind == "refund" else _amount_in(s)
        steps.append(SummaryItem(
            text=text, turns=tuple(sorted({s.turn, amount_turn})), kind=kind,
            amount=amount, date=_date_in(s.text),
        ))
    return tuple(steps[-limit:])


def _date_in(text: str) -> str | None:
    """The first date or time phrase, extended over adjacent ones ("on Tuesday between 9 and 12")."""
    matches = list(_DATE.finditer(text))
    if not matches:
        return None
    start, end = matches[0].start(), matches[0].end()
    for m in matches[1:]:
        if len(text[end:m.start()].split()) > 2:
            break
        end = m.end()
    return text[start:end].strip()


def _amount_in(s: Sentence) -> tuple[str | None, int]:
    m = _AMOUNT.search(s.text)
    return (m.group().strip() if m else None), s.turn


def _amount_near(items: Sequence[Sentence], *, at: int, back: int = 3) -> tuple[str | None, int]:
    """A refund's amount: in its sentence, or stated just before it (that turn is then cited too)."""
    for j in range(at, max(-1, at - back - 1), -1):
        if items[at].turn - items[j].turn > 2:
            break
        amount, turn = _amount_in(items[j])
        if amount:
            return amount, turn
    return None, items[at].turn


# --- the summarizer ---------------------------------------------------------------------------
class ExtractiveSummarizer:
    """The default :class:`Summarizer`: every item is a transcript sentence with its turn."""

    name = "extractive"

    def summarize(
        self, transcript: Transcript, *, intent: IntentResult | None, flags: Sequence[Flag]
    ) -> Summary:
        items = sentences(transcript)
        reason = find_reason(items, intent=intent, flags=flags)
        outcome, outcome_turns, guessed = find_outcome(items, intent=intent)
        return Summary(
            reason=reason,
            actions=find_actions(items),
            outcome=outcome,
            outcome_turns=outcome_turns,
            next_steps=find_next_steps(items),
            low_confidence=guessed or reason is None or reason.kind == "reason_guess",
        )


_DEFAULT = ExtractiveSummarizer()


def summarize(transcript: Transcript, *, intent: IntentResult | None, flags: Sequence[Flag]) -> Summary:
    """Summarise one call with the default extractive summarizer."""
    return _DEFAULT.summarize(transcript, intent=intent, flags=flags)
