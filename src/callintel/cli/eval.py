"""``callintel eval DATASET``: score the pipeline on a labelled set of calls.

Prints intent accuracy, urgent-topic precision/recall (micro and per topic), outcome accuracy,
customer sentiment agreement, escalation precision/recall and word error rate; ``--json`` prints
the whole report, ``-v`` lists each call's mistakes. A progress bar runs on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from callintel.evaluation import CONFUSIONS, PRF, Agreement, EvalReport

MODELS = ("tiny.en", "base")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "eval", help="evaluate the analysis on a labelled dataset",
        description="Run the analysis over a labelled dataset (e.g. eval/devset) and print its scores.",
    )
    parser.add_argument("dataset", type=Path, metavar="DATASET",
                        help="dataset folder (manifest.jsonl and calls/) or its manifest.jsonl")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--limit", type=int, default=None, metavar="N", help="only the first N calls")
    parser.add_argument("--model", choices=MODELS, default=None, help="speech model (default: settings)")
    parser.add_argument("--from-text", action="store_true",
                        help="skip audio: analyse the scripts' turns (understanding quality without ASR)")
    parser.add_argument("-v", "--verbose", action="store_true", help="list each call's mistakes")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from callintel.config import get_settings
    from callintel.errors import InvalidInput
    from callintel.evaluation import evaluate, load_dataset
    from callintel.pipeline import load_analyzers

    if args.limit is not None and args.limit < 1:
        raise InvalidInput("--limit must be at least 1", value=args.limit)
    calls = load_dataset(args.dataset, limit=args.limit)
    analyzers = load_analyzers(get_settings())
    with tqdm(total=len(calls), unit="call", file=sys.stderr, dynamic_ncols=True, leave=False) as bar:

        def advance(result: Any) -> None:
            bar.set_postfix_str(result.call.id, refresh=False)
            bar.update(1)

        report = evaluate(args.dataset, analyzers=analyzers, from_text=args.from_text,
                          asr_model=args.model, on_result=advance, calls=calls)
    if args.json:
        json.dump(report.to_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print_report(report, out=sys.stdout, verbose=args.verbose)
    return 0


def print_report(report: EvalReport, *, out: TextIO, verbose: bool = False) -> None:
    """The readable report."""
    for line in report_lines(report, verbose=verbose):
        out.write(line + "\n")


def _pct(value: float | None) -> str:
    return "  n/a" if value is None else f"{value:5.3f}"


def _agree(value: Agreement) -> str:
    return f"{_pct(value.rate)}  ({value.correct}/{value.total})"


def _prf(value: PRF) -> str:
    return (f"P {_pct(value.precision)}  R {_pct(value.recall)}  F1 {_pct(value.f1)}"
            f"  (tp {value.tp}, fp {value.fp}, fn {value.fn})")


def report_lines(report: EvalReport, *, verbose: bool = False) -> Iterator[str]:
    model = f", asr {report.asr_model}" if report.asr_model else ""
    yield (f"== {report.dataset}: {len(report.results)} calls, {report.mode}{model}, "
           f"{report.seconds:.1f} s, {len(report.errors)} errors")
    yield f"intent accuracy              {_agree(report.intent)}"
    yield f"flags (micro)                {_prf(report.flags)}"
    for topic, value in report.flags_by_topic().items():
        yield f"  {topic:<26} {_prf(value)}"
    yield f"outcome accuracy             {_agree(report.outcome)}"
    yield f"customer sentiment agreement {_agree(report.customer_sentiment)}"
    yield f"escalation (suggest|require) {_prf(report.escalation)}"
    yield f"  exact decision             {_agree(report.escalation_decision)}"
    yield from _wer_lines(report)
    if verbose:
        yield from _confusion_lines(report)
        yield from _mistake_lines(report)


def _confusion_lines(report: EvalReport) -> Iterator[str]:
    for name in CONFUSIONS:
        yield ""
        yield f"{name} confusion (expected -> predicted counts):"
        for expected, row in report.confusion(name).items():
            cells = ", ".join(f"{label} {count}" for label, count in row.items())
            yield f"  {expected:<20} {cells}"


def _wer_lines(report: EvalReport) -> Iterator[str]:
    wer = report.wer
    if wer is None:
        return
    yield (f"WER (normalised)             {wer.wer:5.3f}  (S {wer.substitutions}, D {wer.deletions}, "
           f"I {wer.insertions} / {wer.reference_words} words)")
    for speaker, value in report.wer_by_speaker().items():
        yield f"  {speaker:<26} {value.wer:5.3f}  (stereo calls, turn order ignored)"


def _mistake_lines(report: EvalReport) -> Iterator[str]:
    yield ""
    yield "per-call mistakes:"
    for result in report.results:
        wer = f" wer {result.wer.wer:.3f}" if result.wer is not None else ""
        mistakes = result.mistakes
        yield f"- {result.call.id} ({result.seconds:.1f} s{wer}): {'ok' if not mistakes else ''}"
        yield from (f"    {m}" for m in mistakes)
