"""Build ``models/<kind>/examples.jsonl`` from the hand-written sentences in ``models/src/<kind>/``.

Each ``<label>.txt`` holds one hand-written utterance per line (``#`` starts a comment). This
script adds slot-filled template sentences and "as Whisper transcribes it" variants (lowercase,
no punctuation, fillers, repeated words, mis-heard words, spoken numbers), deterministically
(fixed seed), and writes ``{"text", "label", "group"}`` lines. ``group`` ties every variant to
the sentence it came from, so held-out splits never see a variant of a training sentence.

Run from the repository root: ``python models/build_examples.py``.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent
SEED = 20261204

FILLERS = ["um", "uh", "so", "like", "you know", "um so", "uh yeah", "okay so", "yeah so", "well"]
OPENERS = [
    "hi",
    "hello",
    "yeah hi",
    "hi there",
    "hi good morning",
    "hello yes",
    "yes hi",
    "hey",
    "hi thanks for picking up",
    "good afternoon",
    "hiya",
    "hello um",
]
# Words Whisper mis-hears on phone audio (observed error types: homophones, split words).
MISHEARD = {
    "account": "a count",
    "cancel": "cancer",
    "router": "rooter",
    "modem": "mode them",
    "invoice": "in voice",
    "appointment": "a point meant",
    "refund": "re fund",
    "wi-fi": "wifi",
    "Wi-Fi": "why fi",
    "technician": "technition",
    "subscription": "sub scription",
    "charged": "charge",
    "their": "there",
    "to": "too",
    "password": "pass word",
    "delivered": "deliver",
    "tracking": "trekking",
    "bill": "bell",
    "order": "odor",
    "contract": "contact",
    "package": "packet",
    "schedule": "shedule",
    "reschedule": "re schedule",
    "internet": "in a net",
    "statement": "state meant",
    "warranty": "warrant e",
    "frustrated": "frustrating",
    "thanks": "thank",
    "great": "grate",
    "really": "realy",
}
CONTRACTIONS = [
    ("I would like", "I'd like"),
    ("want to", "wanna"),
    ("going to", "gonna"),
    ("I am", "I'm"),
    ("I have", "I've"),
    ("do not", "don't"),
    ("it is", "it's"),
    ("kind of", "kinda"),
]


def read_lines(path: Path) -> list[str]:
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def whisperize(text: str, rng: random.Random) -> str:
    """One noisy, transcript-like rendering of ``text``."""
    out = text
    for full, short in CONTRACTIONS:
        if full in out and rng.random() < 0.6:
            out = out.replace(full, short)
    words = out.split()
    for i, word in enumerate(words):
        bare = word.strip(".,?!")
        if bare in MISHEARD and rng.random() < 0.35:
            words[i] = word.replace(bare, MISHEARD[bare])
    if len(words) > 4 and rng.random() < 0.35:
        pos = rng.randrange(1, len(words) - 1)
        words.insert(pos, rng.choice(FILLERS))
    if len(words) > 3 and rng.random() < 0.25:
        pos = rng.randrange(0, len(words) - 1)
        words.insert(pos, words[pos].strip(".,?!"))
    out = " ".join(words)
    if rng.random() < 0.5:
        out = f"{rng.choice(FILLERS + OPENERS)} {out[0].lower()}{out[1:]}"
    if rng.random() < 0.7:
        out = re.sub(r"[^\w\s'-]", "", out).lower()
    return " ".join(out.split())


def fill(templates: list[str], slots: dict[str, list[str]], n: int, rng: random.Random) -> list[str]:
    """``n`` distinct sentences from ``templates`` with ``{slot}`` values drawn from ``slots``."""
    seen: set[str] = set()
    tries = 0
    while len(seen) < n and tries < n * 50:
        tries += 1
        template = rng.choice(templates)
        text = re.sub(r"\{(\w+)\}", lambda m: rng.choice(slots[m.group(1)]), template)
        seen.add(text[0].upper() + text[1:])
    return sorted(seen)


INTENT_TEMPLATES: dict[str, tuple[list[str], dict[str, list[str]]]] = {
    "billing": (
        [
            "Why was I charged {amount} for {thing}?",
            "There's a {amount} charge for {thing} on my bill and I don't know why.",
            "I'd like a refund of the {amount} you took for {thing}.",
            "My bill shows {thing} but I never signed up for that.",
            "Can you take the {thing} charge off my account?",
        ],
        {
            "amount": [
                "ten dollars",
                "twelve pounds",
                "$29.99",
                "forty bucks",
                "a hundred and five dollars",
                "19 euros",
                "sixty dollars",
                "eight ninety nine",
            ],
            "thing": [
                "the router rental",
                "international calls",
                "a movie rental",
                "extra data",
                "a late fee",
                "an activation fee",
                "premium channels",
                "insurance I didn't ask for",
                "a second line",
                "paper statements",
                "the setup fee",
                "an upgrade I declined",
            ],
        },
    ),
    "technical_support": (
        [
            "My {device} {problem}.",
            "The {device} {problem} and I've already restarted it.",
            "Ever since {when} my {device} {problem}.",
            "Can you help me, my {device} {problem}?",
        ],
        {
            "device": [
                "router",
                "laptop",
                "phone",
                "set top box",
                "printer",
                "smart TV",
                "tablet",
                "modem",
                "security camera",
                "smart speaker",
                "home phone",
                "fridge",
                "card machine",
            ],
            "problem": [
                "won't connect to the internet",
                "keeps freezing",
                "shows an error on start up",
                "has no sound",
                "won't charge",
                "keeps disconnecting",
                "is really slow",
                "won't update",
                "doesn't turn on",
                "lost all its settings",
            ],
            "when": ["the update", "the power cut", "last night", "we moved", "the storm", "Monday"],
        },
    ),
    "order_status": (
        [
            "Where is my {item}? I ordered it {when}.",
            "I ordered {item} {when} and it still hasn't arrived.",
            "Can you check the delivery status of my {item}?",
            "When is my {item} going to ship? I ordered it {when}.",
        ],
        {
            "item": [
                "new phone",
                "sofa",
                "replacement charger",
                "order",
                "parcel",
                "washing machine",
                "running shoes",
                "birthday present",
                "printer ink",
                "desk",
                "headphones",
                "package",
            ],
            "when": [
                "last Monday",
                "two weeks ago",
                "on the first",
                "ten days ago",
                "over a month ago",
                "last week",
                "on Black Friday",
                "three days ago",
            ],
        },
    ),
    "product_inquiry": (
        [
            "Does the {product} {feature}?",
            "I'm thinking about buying the {product}, does it {feature}?",
            "How much is the {product}?",
            "Before I buy the {product}, can you tell me if it {feature}?",
        ],
        {
            "product": [
                "new headset",
                "gold plan",
                "smart watch",
                "espresso machine",
                "family bundle",
                "standing desk",
                "mesh system",
                "electric bike",
                "air fryer",
                "business plan",
                "kids tablet",
                "travel adapter",
            ],
            "feature": [
                "come with a warranty",
                "work with an iPhone",
                "include installation",
                "come in other colors",
                "have a free trial",
                "support 5G",
                "work abroad",
                "have a student price",
                "come with a case",
            ],
        },
    ),
    "complaint": (
        [
            "The {staff} was {bad} and I want to complain.",
            "I'm unhappy with the {staff}, they were {bad}.",
            "I want to report how {bad} the {staff} was.",
            "Your {staff} was {bad}, and I've never been treated like that.",
        ],
        {
            "staff": [
                "agent I spoke to",
                "delivery driver",
                "technician",
                "store manager",
                "woman at the front desk",
                "installer",
                "person on the chat",
                "security guard",
                "sales assistant",
                "call center rep",
            ],
            "bad": [
                "rude",
                "dismissive",
                "unprofessional",
                "condescending",
                "aggressive",
                "completely unhelpful",
                "disrespectful",
                "careless",
            ],
        },
    ),
    "cancellation": (
        [
            "I want to cancel my {service}.",
            "Please close my {service}, I {reason}.",
            "I'm calling to cancel the {service} because I {reason}.",
            "How do I end my {service}? I {reason}.",
        ],
        {
            "service": [
                "subscription",
                "broadband",
                "membership",
                "phone line",
                "TV package",
                "account",
                "contract",
                "policy",
                "streaming plan",
                "meal plan",
                "cloud storage plan",
            ],
            "reason": [
                "found a better deal",
                "am moving away",
                "don't use it anymore",
                "can't afford it right now",
                "am switching providers",
                "am not happy with it",
            ],
        },
    ),
    "appointment": (
        [
            "Can I {action} {appt} {when}?",
            "I need to {action} {appt} {when}.",
            "I'd like to {action} {appt} for {when}.",
        ],
        {
            "action": ["book", "reschedule", "move", "confirm", "make", "set up", "change"],
            "appt": [
                "my appointment",
                "a technician visit",
                "the installation",
                "a consultation",
                "my check up",
                "a viewing",
                "the engineer visit",
                "a fitting",
            ],
            "when": [
                "next Tuesday",
                "this Friday",
                "tomorrow morning",
                "the twentieth",
                "next week",
                "some time after five",
                "the weekend",
                "Monday afternoon",
            ],
        },
    ),
    "other": (
        [
            "My {detail} is {value}.",
            "{ack}",
            "{ack}, {ack2}.",
        ],
        {
            "detail": ["name", "postcode", "date of birth", "phone number", "email", "middle name"],
            "value": [
                "Sarah Jones",
                "N four seven",
                "the second of March",
                "oh seven seven oh oh",
                "sarah at mail dot com",
                "Anne",
            ],
            "ack": ["okay", "yes", "yeah", "right", "sure", "alright", "one second", "hang on", "sorry"],
            "ack2": ["go ahead", "that's right", "I'm here", "thanks", "I'm listening", "no worries"],
        },
    ),
}


SENTIMENT_TEMPLATES: dict[str, tuple[list[str], dict[str, list[str]]]] = {
    "negative": (
        [
            "I'm {feeling} that {problem}.",
            "It's {bad} that {problem}.",
            "Honestly I'm {feeling}, {problem}.",
            # factual grievances: no feeling word, the wrong itself carries the mood
            "I {did} {when} and {still}.",
        ],
        {
            "did": [
                "cancelled",
                "paid in full",
                "reported it",
                "sent it back",
                "complained",
                "asked for a refund",
            ],
            "when": ["in March", "three weeks ago", "last month", "back in the spring", "twice already"],
            "still": [
                "you've charged me twice since",
                "nobody has told me anything",
                "I'm still waiting",
                "I'm still getting letters",
                "the money still hasn't come back",
                "nothing has happened",
                "you passed it to collections anyway",
            ],
            "feeling": [
                "really frustrated",
                "so annoyed",
                "furious",
                "very upset",
                "fed up",
                "pretty disappointed",
                "angry",
                "worried",
            ],
            "bad": ["ridiculous", "unacceptable", "awful", "a disgrace", "really frustrating"],
            "problem": [
                "nobody called me back",
                "my internet is still down",
                "I was charged twice",
                "my order never arrived",
                "I've been on hold for forty minutes",
                "the technician didn't turn up",
                "the app still crashes",
                "I keep getting the runaround",
            ],
        },
    ),
    "neutral": (
        [
            "{agent}",
            "The {detail} is {value}.",
            "I'm going to {action}.",
            "{ack}, {ack2}.",
        ],
        {
            "ack": ["okay", "yes", "yeah", "right", "alright", "sure", "mm", "fine"],
            "ack2": [
                "thanks",
                "thank you",
                "that's right",
                "that's correct",
                "that's fine",
                "got it",
                "I'll do that",
                "go on",
            ],
            "agent": [
                "Can you confirm the address on the account?",
                "Let me just check that for you.",
                "Could I take your full name please?",
                "I'll put a note on the account.",
                "Bear with me one moment.",
                "Can you see a light on the front of the box?",
            ],
            "detail": ["account number", "reference", "order number", "postcode", "serial number", "model"],
            "value": [
                "four four one two",
                "A B seven",
                "nine nine three one",
                "M one one A A",
                "X Y Z one two three",
                "the twenty twenty one one",
            ],
            "action": [
                "check your account",
                "run a line test",
                "send you a confirmation email",
                "transfer you now",
                "book that in",
                "read the terms to you",
            ],
        },
    ),
    "positive": (
        [
            "{thanks}, {praise}.",
            "{praise}, {thanks}.",
            "{relief}, {thanks}.",
        ],
        {
            "thanks": [
                "thank you so much",
                "thanks a lot",
                "I really appreciate it",
                "many thanks",
                "thanks ever so much",
                "cheers",
            ],
            "praise": [
                "you've been brilliant",
                "that was really helpful",
                "it works perfectly now",
                "you sorted it so fast",
                "that's great news",
                "I'm really happy with that",
            ],
            "relief": [
                "oh that's such a relief",
                "great, it's working again",
                "wonderful",
                "perfect, that's all fixed",
                "fantastic",
            ],
        },
    ),
}


def build(
    kind: str,
    templates: dict[str, tuple[list[str], dict[str, list[str]]]],
    *,
    per_template: int,
    variants: Callable[[random.Random], int],
) -> list[dict[str, str]]:
    rng = random.Random(f"{SEED}-{kind}")
    rows: list[dict[str, str]] = []
    for path in sorted((ROOT / "src" / kind).glob("*.txt")):
        label = path.stem
        base = read_lines(path)
        patterns, slots = templates[label]
        base += fill(patterns, slots, per_template, rng)
        for i, text in enumerate(base):
            group = f"{label}-{i:03d}"
            rows.append({"text": text, "label": label, "group": group})
            seen = {text}
            for _ in range(variants(rng)):
                noisy = whisperize(text, rng)
                if noisy not in seen:
                    seen.add(noisy)
                    rows.append({"text": noisy, "label": label, "group": group})
    return rows


def write(rows: list[dict[str, str]], path: Path) -> None:
    with path.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")


def main() -> None:
    intent = build(
        "intent", INTENT_TEMPLATES, per_template=22, variants=lambda r: 1 if r.random() < 0.5 else 0
    )
    sentiment = build(
        "sentiment", SENTIMENT_TEMPLATES, per_template=35, variants=lambda r: 1 if r.random() < 0.6 else 0
    )
    write(intent, ROOT / "intent" / "examples.jsonl")
    write(sentiment, ROOT / "sentiment" / "examples.jsonl")
    for name, rows in (("intent", intent), ("sentiment", sentiment)):
        counts: dict[str, int] = {}
        for row in rows:
            counts[row["label"]] = counts.get(row["label"], 0) + 1
        print(name, len(rows), dict(sorted(counts.items())))


if __name__ == "__main__":
    main()
