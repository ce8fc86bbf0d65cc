"""Call-flow validation (errors name the node) and the flow runner."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from callintel.errors import FlowInvalid
from callintel.flows import (
    FlowPosition,
    FlowRunner,
    Signal,
    load_flow_text,
    merge_flows,
    packaged_flows,
    parse_flow,
)


def flow(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "f",
        "start": "ask",
        "trigger": {"keywords": ["help me"]},
        "nodes": [
            {
                "id": "ask",
                "type": "ask",
                "text": "What happened?",
                "branches": [
                    {"when": {"keywords": ["broken"]}, "next": "fix"},
                    {"when": {"keywords": ["angry"]}, "next": "boss"},
                ],
            },
            {"id": "fix", "type": "action", "text": "Fix it.", "next": "done"},
            {"id": "done", "type": "end", "text": "Bye."},
            {"id": "boss", "type": "escalate", "text": "Transfer."},
        ],
    }
    base.update(overrides)
    return base


def nodes_with(*extra: dict[str, Any], drop: str | None = None) -> list[dict[str, Any]]:
    nodes = [n for n in flow()["nodes"] if n["id"] != drop]
    return nodes + list(extra)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (flow(start=None), "flow 'f': missing 'start'"),
        (flow(start="nope"), "'start' names unknown node 'nope'"),
        (
            flow(nodes=nodes_with({"id": "fix", "type": "say", "text": "x", "next": "done"})),
            "flow 'f', node 'fix': duplicate node id",
        ),
        (
            flow(nodes=nodes_with({"id": "x", "type": "say", "text": "x", "next": "ghost"})),
            "flow 'f', node 'x': 'next' names unknown node 'ghost'",
        ),
        (
            flow(nodes=nodes_with({"id": "island", "type": "end", "text": "x"})),
            "flow 'f', node 'island': unreachable",
        ),
        (
            flow(
                nodes=[
                    {
                        "id": "ask",
                        "type": "ask",
                        "text": "q",
                        "branches": [
                            {"when": {"keywords": ["a"]}, "next": "loop1"},
                            {"when": {"keywords": ["b"]}, "next": "done"},
                        ],
                    },
                    {"id": "loop1", "type": "say", "text": "x", "next": "loop2"},
                    {"id": "loop2", "type": "say", "text": "y", "next": "loop1"},
                    {"id": "done", "type": "end", "text": "bye"},
                ]
            ),
            "node 'loop1': loops without an exit",
        ),
        (
            flow(
                nodes=[
                    {
                        "id": "ask",
                        "type": "ask",
                        "text": "q",
                        "branches": [
                            {"when": {"keywords": ["a"]}, "next": "stuck"},
                            {"when": {"keywords": ["b"]}, "next": "done"},
                        ],
                    },
                    {"id": "stuck", "type": "say", "text": "x"},
                    {"id": "done", "type": "end", "text": "bye"},
                ]
            ),
            "node 'stuck': is a dead end",
        ),
        (
            flow(nodes=nodes_with({"id": "x", "type": "shout", "text": "x"})),
            "node 'x': 'type' must be one of",
        ),
        (flow(nodes=nodes_with({"id": "x", "type": "say", "text": ""})), "node 'x': 'text'"),
        (
            flow(nodes=nodes_with({"id": "x", "type": "say", "text": "t", "nxt": "done"})),
            "node 'x': unknown key(s) ['nxt']",
        ),
        (
            flow(nodes=nodes_with({"id": "x", "type": "end", "text": "t", "next": "done"})),
            "node 'x': a 'end' node ends the flow",
        ),
        (
            flow(
                nodes=nodes_with(
                    {
                        "id": "x",
                        "type": "ask",
                        "text": "t",
                        "branches": [{"when": {"patterns": ["(unclosed"]}, "next": "done"}],
                    }
                )
            ),
            "node 'x': pattern '(unclosed'",
        ),
        (
            flow(
                nodes=nodes_with(
                    {
                        "id": "x",
                        "type": "ask",
                        "text": "t",
                        "branches": [{"when": {"colour": "red"}, "next": "done"}],
                    }
                )
            ),
            "node 'x': unknown condition(s) ['colour']",
        ),
        (flow(id=None), "the flow needs an 'id'"),
    ],
)
def test_invalid_flows_name_the_problem(data: dict[str, Any], message: str) -> None:
    with pytest.raises(FlowInvalid) as info:
        parse_flow(data, source="test.yaml")
    assert message in info.value.message
    assert info.value.code == "flow_invalid"


def test_yaml_booleans_get_a_hint() -> None:
    text = yaml.safe_dump(flow()).replace("- broken", "- yes")
    with pytest.raises(FlowInvalid, match="quote yes/no"):
        load_flow_text(text, source="bools.yaml")
    with pytest.raises(FlowInvalid, match="invalid YAML"):
        load_flow_text("id: [unclosed", source="bad.yaml")


def test_packaged_flows_load_and_cover_the_required_scenarios() -> None:
    flows = packaged_flows()
    assert {
        "login_troubleshooting",
        "duplicate_charge",
        "delayed_order",
        "cancellation_retention",
        "angry_caller_escalation",
    } <= set(flows)
    for f in flows.values():
        assert any(n.type == "escalate" for n in f.nodes.values()), f.id
        assert any(n.type in ("end", "escalate") for n in f.nodes.values())


def test_runner_starts_on_trigger_and_follows_branches() -> None:
    runner = FlowRunner({"f": parse_flow(flow())})
    pos, step = runner.advance(None, Signal("hello there"))
    assert pos is None and step is None
    pos, step = runner.advance(None, Signal("can you help me please"))
    assert pos == FlowPosition("f", "ask") and step is not None and step.started
    assert step.node.text == "What happened?" and len(step.expecting) == 2
    same, step = runner.advance(pos, Signal("well it is complicated"))
    assert same == pos and step is not None and not step.moved  # an ask waits for a matching answer
    pos, step = runner.advance(pos, Signal("the thing is broken"))
    assert pos is not None and pos.node_id == "fix" and step is not None and step.moved
    pos, step = runner.advance(pos, Signal("ok"))  # an action moves on with the next utterance
    assert pos is not None and pos.node_id == "done" and step is not None and step.finished
    assert pos.path == ("ask", "fix")


def test_keywords_match_whole_words_only() -> None:
    runner = FlowRunner({"f": parse_flow(flow())})
    pos, _ = runner.advance(None, Signal("help me"))
    same, _ = runner.advance(pos, Signal("it is unbrokenly fine"))
    assert same == pos


def test_intent_alone_does_not_start_a_flow_but_adds_weight() -> None:
    flows = packaged_flows()
    runner = FlowRunner(flows)
    assert runner.select(Signal("I have a question about VAT", intent="billing")) is None
    chosen = runner.select(Signal("I was charged twice for my plan", intent="billing"))
    assert chosen is not None and chosen.id == "duplicate_charge"


def test_interrupts_and_urgent_takeover() -> None:
    runner = FlowRunner(packaged_flows())
    pos, _ = runner.advance(None, Signal("I was charged twice", intent="billing"))
    assert pos is not None and pos.flow_id == "duplicate_charge"
    fraud, step = runner.advance(
        pos, Signal("I think my card was stolen", flags=frozenset({"fraud_or_security"}))
    )
    assert fraud is not None and fraud.node_id == "fraud_escalation" and step is not None
    assert step.node.type == "escalate" and step.finished
    angry, step = runner.advance(pos, Signal("get me a supervisor", flags=frozenset({"supervisor_request"})))
    assert (
        angry is not None and angry.flow_id == "angry_caller_escalation" and step is not None and step.started
    )


def test_sentiment_and_flag_conditions() -> None:
    data = flow()
    data["nodes"][0]["branches"].insert(0, {"when": {"sentiment_below": -0.5}, "next": "boss"})
    runner = FlowRunner({"f": parse_flow(data)})
    pos = FlowPosition("f", "ask")
    moved, _ = runner.advance(pos, Signal("this is awful", sentiment=-0.8))
    assert moved is not None and moved.node_id == "boss"
    stay, _ = runner.advance(pos, Signal("this is fine", sentiment=0.1))
    assert stay == pos


def test_tenant_flows_override_and_extend() -> None:
    base = packaged_flows()
    custom = yaml.safe_dump(flow(id="duplicate_charge", title="Our own"))
    merged = merge_flows(base, {"duplicate_charge": custom, "extra": flow(id="extra")})
    assert merged["duplicate_charge"].title == "Our own"
    assert "extra" in merged and "login_troubleshooting" in merged
    with pytest.raises(FlowInvalid, match="flow 'bad'"):
        merge_flows(base, {"bad": flow(id="bad", start="zzz")})


def test_stale_position_restarts_selection() -> None:
    runner = FlowRunner({"f": parse_flow(flow())})
    pos, step = runner.advance(FlowPosition("gone", "x"), Signal("help me now"))
    assert pos == FlowPosition("f", "ask") and step is not None


def test_ask_with_branches_falls_back_to_next_on_a_substantive_answer() -> None:
    runner = FlowRunner(packaged_flows())
    pos = FlowPosition("cancellation_retention", "ask_reason")
    waiting, _ = runner.advance(pos, Signal("um"))
    assert waiting == pos
    offer, _ = runner.advance(pos, Signal("it is way too expensive"))
    assert offer is not None and offer.node_id == "offer_discount"
    other, step = runner.advance(pos, Signal("I am moving abroad next month"))
    assert other is not None and other.node_id == "confirm_cancel" and step is not None and step.moved
