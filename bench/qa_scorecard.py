"""Score the eval devset's calls with the default QA scorecard and print the score distribution
and the failures per item (there are no QA labels, so this is a distribution, not an accuracy).

    python bench/qa_scorecard.py [eval/devset/calls] [-v]
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import yaml

from callintel.config import get_settings
from callintel.domain import Escalation, IntentResult, Transcript, Turn
from callintel.ml.registry import ModelManager
from callintel.understanding.qa import load_scorecard, score_call


def transcript_of(turns: list[dict[str, str]]) -> Transcript:
    rows = tuple(Turn(index=i, speaker=t["speaker"], start=i * 4.0, end=i * 4.0 + 3.0,  # type: ignore[arg-type]
                      text=t["text"]) for i, t in enumerate(turns))
    return Transcript(turns=rows, language="en", duration_s=len(rows) * 4.0, channels=2)


def main(argv: list[str]) -> int:
    folder = Path(next((a for a in argv if not a.startswith("-")), "eval/devset/calls"))
    settings = get_settings().models
    embedder = ModelManager(cache_dir=settings.cache_dir).embedder(settings.embedder)
    card = load_scorecard(None, embedder=embedder)
    fails: Counter[str] = Counter()
    not_applicable: Counter[str] = Counter()
    scores: list[float] = []
    for path in sorted(folder.glob("*.yaml")):
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        expected = spec.get("expected", {})
        escalation = Escalation(decision=expected.get("escalation", "none"), priority="normal", reasons=(),
                                handoff_brief=None)
        intent = IntentResult(label=expected.get("intent", "other"), confidence=1.0)
        transcript = transcript_of(spec["turns"])
        result = score_call(transcript, scorecard=card, escalation=escalation, intent=intent)
        scores.append(result.score or 0.0)
        fails.update(i.id for i in result.items if i.result == "fail")
        not_applicable.update(i.id for i in result.items if i.result == "n/a")
        if "-v" in argv:
            failed = [i.id for i in result.items if i.result == "fail"]
            print(f"{path.stem:<40} {result.score:>6} fails: {failed}")
    print(f"calls {len(scores)}  mean score {sum(scores) / max(len(scores), 1):.1f}")
    print("fails per item:", dict(fails.most_common()))
    print("n/a per item:  ", dict(not_applicable.most_common()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
