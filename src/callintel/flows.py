"""Guided call flows: YAML decision trees that tell the agent what to say or do next.

A flow has a ``trigger`` (intents, flags or keywords that start it), a ``start`` node and
``nodes``. Node types: ``say`` and ``ask`` (what the agent says or asks), ``action`` (something
the agent does in a tool), ``escalate`` (hand over to a supervisor or specialist) and ``end``.
Each customer utterance is matched against the current node's ``branches`` (and the flow's
``interrupts``, checked at every node); the first branch whose ``when`` holds moves the flow to
its ``next`` node. A node's ``next`` is taken when no branch matched: for ``say``/``action`` on
the customer's next utterance; for ``ask`` on any answer when it has no branches, else on a
substantive answer (three words or more) that no branch recognised.

``when`` conditions (all given fields must hold; any item of a list matches):
``keywords`` (whole words or phrases, case-insensitive), ``patterns`` (regular expressions),
``intents`` (the live intent label), ``flags`` (urgent topics raised so far),
``sentiment_below`` (the utterance's signed sentiment score), ``any: true`` (always).

Flows are validated on load and every error names the flow and node: unknown next node,
unreachable node, missing start, duplicate id, and loops or dead ends with no way to an
``end``/``escalate`` node. Packaged flows live in ``resources/flows``; a tenant's flows (stored
under the ``flows`` tenant setting) override packaged ones with the same id or add new ones.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Literal

import yaml

from callintel.errors import FlowInvalid

NodeType = Literal["say", "ask", "action", "escalate", "end"]
NODE_TYPES: tuple[str, ...] = ("say", "ask", "action", "escalate", "end")
TERMINAL = frozenset({"escalate", "end"})
_NODE_KEYS = frozenset(
    {"id", "type", "text", "branches", "next", "action", "kb", "priority", "outcome", "note"}
)
_WHEN_KEYS = frozenset({"keywords", "patterns", "intents", "flags", "sentiment_below", "any"})
_FLOW_KEYS = frozenset({"id", "title", "description", "trigger", "start", "nodes", "interrupts", "priority"})
_ID = re.compile(r"^[A-Za-z0-9_.-]{1,80}$")


@dataclass(frozen=True, slots=True)
class Condition:
    keywords: tuple[str, ...] = ()
    patterns: tuple[re.Pattern[str], ...] = ()
    intents: frozenset[str] = frozenset()
    flags: frozenset[str] = frozenset()
    sentiment_below: float | None = None
    always: bool = False

    def holds(self, signal: Signal) -> bool:
        """True when every given field holds for this utterance."""
        checks: list[bool] = []
        if self.keywords:
            checks.append(any(_has_phrase(signal.text, k) for k in self.keywords))
        if self.patterns:
            checks.append(any(p.search(signal.text) for p in self.patterns))
        if self.intents:
            checks.append(signal.intent in self.intents)
        if self.flags:
            checks.append(bool(self.flags & signal.flags))
        if self.sentiment_below is not None:
            checks.append(signal.sentiment is not None and signal.sentiment < self.sentiment_below)
        return self.always or (bool(checks) and all(checks))


def _has_phrase(text: str, phrase: str) -> bool:
    return re.search(rf"(?<![\w']){re.escape(phrase.lower())}(?![\w'])", text.lower()) is not None


@dataclass(frozen=True, slots=True)
class Branch:
    when: Condition
    next: str
    label: str = ""


@dataclass(frozen=True, slots=True)
class FlowNode:
    id: str
    type: NodeType
    text: str
    branches: tuple[Branch, ...] = ()
    next: str | None = None
    action: str | None = None
    kb: tuple[str, ...] = ()
    """Knowledge-base article ids that help at this step."""
    priority: str | None = None
    """Escalation priority (``escalate`` nodes)."""
    outcome: str | None = None
    """Call outcome (``end`` nodes), e.g. ``resolved``."""

    @property
    def terminal(self) -> bool:
        return self.type in TERMINAL

    def targets(self) -> list[str]:
        return [b.next for b in self.branches] + ([self.next] if self.next else [])


@dataclass(frozen=True, slots=True)
class Trigger:
    intents: frozenset[str] = frozenset()
    flags: frozenset[str] = frozenset()
    keywords: tuple[str, ...] = ()

    def score(self, signal: Signal) -> int:
        """How strongly the utterance calls for this flow; below ``MIN_TRIGGER`` it does not.

        An intent alone is not enough (a billing question is not a duplicate charge): it only
        adds weight to a keyword or flag match.
        """
        return (
            3 * bool(self.flags & signal.flags)
            + (signal.intent in self.intents)
            + 2 * sum(_has_phrase(signal.text, k) for k in self.keywords)
        )


MIN_TRIGGER = 2
ANSWER_WORDS = 3
"""An ``ask`` node with branches falls back to its ``next`` only on an answer this long ("um",
"hold on" and "yes" keep waiting for an answer the branches recognise)."""


@dataclass(frozen=True, slots=True)
class Flow:
    id: str
    title: str
    start: str
    nodes: Mapping[str, FlowNode]
    trigger: Trigger = field(default_factory=Trigger)
    interrupts: tuple[Branch, ...] = ()
    description: str = ""
    priority: int = 0
    """Breaks ties between flows that match an utterance equally well; also lets an urgent
    flow (angry caller) take over a running one."""


@dataclass(frozen=True, slots=True)
class Signal:
    """What the flow runner knows about one customer utterance."""

    text: str
    intent: str | None = None
    flags: frozenset[str] = frozenset()
    sentiment: float | None = None


# --- parsing and validation ----------------------------------------------------------------------
def _fail(flow: str, message: str, *, node: str | None = None) -> FlowInvalid:
    where = f"flow '{flow}'" + (f", node '{node}'" if node else "")
    return FlowInvalid(f"{where}: {message}", flow=flow, node=node)


def _strings(value: Any, *, flow: str, node: str | None, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        hint = (
            " (quote yes/no/on/off: YAML reads them as booleans)"
            if isinstance(value, list) and any(isinstance(v, bool) for v in value)
            else ""
        )
        raise _fail(flow, f"'{key}' must be a list of non-empty strings{hint}", node=node)
    return tuple(v.strip() for v in value)


def _condition(raw: Any, *, flow: str, node: str | None) -> Condition:
    if not isinstance(raw, dict) or not raw:
        raise _fail(flow, "each branch needs a non-empty 'when' mapping", node=node)
    unknown = set(raw) - _WHEN_KEYS
    if unknown:
        raise _fail(flow, f"unknown condition(s) {sorted(unknown)}; use {sorted(_WHEN_KEYS)}", node=node)
    patterns = []
    for p in _strings(raw.get("patterns"), flow=flow, node=node, key="patterns"):
        try:
            patterns.append(re.compile(p, re.IGNORECASE))
        except re.error as exc:
            raise _fail(flow, f"pattern {p!r} does not compile: {exc}", node=node) from None
    below = raw.get("sentiment_below")
    if below is not None and (isinstance(below, bool) or not isinstance(below, int | float)):
        raise _fail(flow, "'sentiment_below' must be a number in [-1, 1]", node=node)
    return Condition(
        keywords=_strings(raw.get("keywords"), flow=flow, node=node, key="keywords"),
        patterns=tuple(patterns),
        intents=frozenset(_strings(raw.get("intents"), flow=flow, node=node, key="intents")),
        flags=frozenset(_strings(raw.get("flags"), flow=flow, node=node, key="flags")),
        sentiment_below=None if below is None else float(below),
        always=raw.get("any") is True,
    )


def _branches(raw: Any, *, flow: str, node: str | None) -> tuple[Branch, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise _fail(flow, "'branches' must be a list", node=node)
    out = []
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("next"), str):
            raise _fail(flow, "each branch needs 'when' and a 'next' node id", node=node)
        label = item.get("label", "")
        out.append(
            Branch(
                when=_condition(item.get("when"), flow=flow, node=node), next=item["next"], label=str(label)
            )
        )
    return tuple(out)


def _node(raw: Any, *, flow: str, position: int) -> FlowNode:
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), str) or not _ID.match(raw["id"]):
        raise _fail(flow, f"node #{position} needs an 'id' (letters, digits, '_', '-', '.')")
    nid = raw["id"]
    unknown = set(raw) - _NODE_KEYS
    if unknown:
        raise _fail(flow, f"unknown key(s) {sorted(unknown)}", node=nid)
    ntype = raw.get("type")
    if ntype not in NODE_TYPES:
        raise _fail(flow, f"'type' must be one of {list(NODE_TYPES)} (got {ntype!r})", node=nid)
    text = raw.get("text")
    if not isinstance(text, str) or not text.strip():
        raise _fail(flow, "'text' (what the agent says or does) is required", node=nid)
    nxt = raw.get("next")
    if nxt is not None and not isinstance(nxt, str):
        raise _fail(flow, "'next' must be a node id", node=nid)
    node = FlowNode(
        id=nid,
        type=ntype,
        text=" ".join(text.split()),
        branches=_branches(raw.get("branches"), flow=flow, node=nid),
        next=nxt,
        action=raw.get("action"),
        kb=_strings(raw.get("kb"), flow=flow, node=nid, key="kb"),
        priority=raw.get("priority"),
        outcome=raw.get("outcome"),
    )
    if node.terminal and node.targets():
        raise _fail(flow, f"a '{ntype}' node ends the flow and cannot have 'branches' or 'next'", node=nid)
    return node


def parse_flow(data: Any, *, source: str = "flow") -> Flow:
    """Build and validate one flow from decoded YAML; raises ``FlowInvalid`` naming the node."""
    if not isinstance(data, dict):
        raise FlowInvalid(f"{source}: a flow must be a mapping", flow=source)
    fid = data.get("id")
    if not isinstance(fid, str) or not _ID.match(fid):
        raise FlowInvalid(f"{source}: the flow needs an 'id' (letters, digits, '_', '-', '.')", flow=source)
    unknown = set(data) - _FLOW_KEYS
    if unknown:
        raise _fail(fid, f"unknown key(s) {sorted(unknown)}")
    raw_nodes = data.get("nodes")
    if not isinstance(raw_nodes, list) or not raw_nodes:
        raise _fail(fid, "'nodes' must be a non-empty list")
    nodes: dict[str, FlowNode] = {}
    for position, raw in enumerate(raw_nodes, 1):
        node = _node(raw, flow=fid, position=position)
        if node.id in nodes:
            raise _fail(fid, "duplicate node id", node=node.id)
        nodes[node.id] = node
    flow = Flow(
        id=fid,
        title=str(data.get("title") or fid),
        start=str(data.get("start") or ""),
        nodes=nodes,
        trigger=_trigger(data.get("trigger"), flow=fid),
        interrupts=_branches(data.get("interrupts"), flow=fid, node=None),
        description=str(data.get("description") or ""),
        priority=int(data.get("priority") or 0),
    )
    validate_graph(flow)
    return flow


def _trigger(raw: Any, *, flow: str) -> Trigger:
    if raw is None:
        return Trigger()
    if not isinstance(raw, dict) or set(raw) - {"intents", "flags", "keywords"}:
        raise _fail(flow, "'trigger' may only have 'intents', 'flags' and 'keywords'")
    return Trigger(
        intents=frozenset(_strings(raw.get("intents"), flow=flow, node=None, key="trigger.intents")),
        flags=frozenset(_strings(raw.get("flags"), flow=flow, node=None, key="trigger.flags")),
        keywords=_strings(raw.get("keywords"), flow=flow, node=None, key="trigger.keywords"),
    )


def validate_graph(flow: Flow) -> None:
    """Start exists, every edge lands on a node, all nodes reachable, every node can finish."""
    if not flow.start:
        raise _fail(flow.id, "missing 'start' node id")
    if flow.start not in flow.nodes:
        raise _fail(flow.id, f"'start' names unknown node '{flow.start}'")
    for node in flow.nodes.values():
        for target in node.targets():
            if target not in flow.nodes:
                raise _fail(flow.id, f"'next' names unknown node '{target}'", node=node.id)
    for branch in flow.interrupts:
        if branch.next not in flow.nodes:
            raise _fail(flow.id, f"interrupt names unknown node '{branch.next}'")
    edges = {n.id: set(n.targets()) for n in flow.nodes.values()}
    extra = {b.next for b in flow.interrupts}
    reachable = _closure({flow.start} | extra, edges)
    for nid in flow.nodes:
        if nid not in reachable:
            raise _fail(flow.id, "unreachable from the start node", node=nid)
    reverse: dict[str, set[str]] = {nid: set() for nid in flow.nodes}
    for src, targets in edges.items():
        for dst in targets:
            reverse[dst].add(src)
    finishing = _closure({n.id for n in flow.nodes.values() if n.terminal}, reverse)
    for nid in flow.nodes:
        if nid not in finishing:
            what = "loops without an exit" if _on_cycle(nid, edges) else "is a dead end"
            raise _fail(flow.id, f"{what}: no path to an 'end' or 'escalate' node", node=nid)


def _closure(seeds: Iterable[str], edges: Mapping[str, set[str]]) -> set[str]:
    seen = set(seeds)
    todo = list(seen)
    while todo:
        for nxt in edges.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def _on_cycle(nid: str, edges: Mapping[str, set[str]]) -> bool:
    return nid in _closure(edges.get(nid, set()), edges)


def load_flow_text(text: str, *, source: str) -> Flow:
    """One flow from YAML text."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise FlowInvalid(f"{source}: invalid YAML: {exc}", flow=source) from None
    return parse_flow(data, source=source)


def packaged_flows() -> dict[str, Flow]:
    """The flows shipped in ``callintel/resources/flows``."""
    folder = resources.files("callintel").joinpath("resources/flows")
    out: dict[str, Flow] = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith((".yaml", ".yml")):
            flow = load_flow_text(entry.read_text(encoding="utf-8"), source=entry.name)
            out[flow.id] = flow
    return out


def merge_flows(base: Mapping[str, Flow], tenant: Mapping[str, Any] | None) -> dict[str, Flow]:
    """Packaged flows overridden/extended by a tenant's (``{id: yaml text or mapping}``)."""
    merged = dict(base)
    for key, raw in (tenant or {}).items():
        source = str(key)
        flow = load_flow_text(raw, source=source) if isinstance(raw, str) else parse_flow(raw, source=source)
        merged[flow.id] = flow
    return merged


# --- running ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class FlowPosition:
    """Where a conversation is in a flow (kept in the live session state)."""

    flow_id: str
    node_id: str
    path: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FlowStep:
    """The current node and what to do next, for the agent's screen."""

    flow_id: str
    flow_title: str
    node: FlowNode
    moved: bool
    started: bool
    finished: bool
    expecting: tuple[str, ...]
    """Labels of the answers the flow listens for at this node."""

    def to_dict(self) -> dict[str, Any]:
        n = self.node
        return {
            "flow_id": self.flow_id,
            "flow_title": self.flow_title,
            "node_id": n.id,
            "type": n.type,
            "next_step": n.text,
            "action": n.action,
            "kb": list(n.kb),
            "priority": n.priority,
            "outcome": n.outcome,
            "moved": self.moved,
            "started": self.started,
            "finished": self.finished,
            "expecting": list(self.expecting),
        }


Advance = tuple[FlowPosition | None, FlowStep | None]
"""The new position (None: no flow) and the step to show (None: nothing to show)."""


class FlowRunner:
    """Chooses a flow for a conversation and advances it one customer utterance at a time.

    Stateless: the position lives with the caller (a live session in Redis).
    """

    def __init__(self, flows: Mapping[str, Flow]) -> None:
        self.flows = dict(flows)

    def select(self, signal: Signal, *, exclude: Sequence[str] = ()) -> Flow | None:
        """The flow whose trigger best matches the utterance, or None."""
        best: tuple[int, int, str] | None = None
        for flow in self.flows.values():
            score = flow.trigger.score(signal)
            if score >= MIN_TRIGGER and flow.id not in exclude:
                key = (score, flow.priority, flow.id)
                best = key if best is None or key > best else best
        return self.flows[best[2]] if best else None

    def step(self, flow: Flow, node_id: str, *, moved: bool, started: bool = False) -> FlowStep:
        node = flow.nodes[node_id]
        expecting = tuple(b.label or _describe(b.when) for b in node.branches)
        return FlowStep(
            flow.id,
            flow.title,
            node,
            moved=moved,
            started=started,
            finished=node.terminal,
            expecting=expecting,
        )

    def advance(self, position: FlowPosition | None, signal: Signal) -> Advance:
        """Apply one customer utterance: start a flow, follow a branch, or stay."""
        flow = self.flows.get(position.flow_id) if position else None
        if position is None or flow is None or position.node_id not in flow.nodes:
            return self._start(signal)
        node = flow.nodes[position.node_id]
        takeover = self._takeover(flow, signal)
        if takeover is not None and (node.terminal or takeover.priority > flow.priority):
            return self._start(signal, flow=takeover)
        if node.terminal:
            return position, self.step(flow, node.id, moved=False)
        target = _next_node(flow, node, signal)
        if target is None:
            return position, self.step(flow, node.id, moved=False)
        moved_to = FlowPosition(flow.id, target, (*position.path, node.id))
        return moved_to, self.step(flow, target, moved=True)

    def _takeover(self, current: Flow, signal: Signal) -> Flow | None:
        return self.select(signal, exclude=(current.id,))

    def _start(self, signal: Signal, *, flow: Flow | None = None) -> Advance:
        flow = flow or self.select(signal)
        if flow is None:
            return None, None
        return FlowPosition(flow.id, flow.start), self.step(flow, flow.start, moved=True, started=True)


def _next_node(flow: Flow, node: FlowNode, signal: Signal) -> str | None:
    for branch in (*flow.interrupts, *node.branches):
        if branch.when.holds(signal) and branch.next != node.id:
            return branch.next
    if node.next and (node.type != "ask" or not node.branches or len(signal.text.split()) >= ANSWER_WORDS):
        return node.next
    return None


def _describe(cond: Condition) -> str:
    parts = []
    if cond.keywords:
        parts.append("says " + " / ".join(f"'{k}'" for k in cond.keywords[:3]))
    if cond.intents:
        parts.append("intent " + "/".join(sorted(cond.intents)))
    if cond.flags:
        parts.append("raises " + "/".join(sorted(cond.flags)))
    if cond.sentiment_below is not None:
        parts.append(f"sentiment below {cond.sentiment_below}")
    return "; ".join(parts) or ("anything" if cond.always else "pattern")
