"""PII redaction: what is found, what is kept, and the word times handed to the audio redactor."""

from __future__ import annotations

import pytest

from callintel.domain import Speaker, Transcript, Turn, Word
from callintel.understanding.pii import classify_digits, find_pii, luhn_ok, redact_transcript, redact_turn


def timed_turn(index: int, speaker: Speaker, text: str, *, start: float = 0.0, step: float = 0.5) -> Turn:
    """A turn whose words are Whisper-like (leading space) and 0.5 s apart."""
    words = tuple(
        Word(" " + w, start + k * step, start + k * step + step * 0.8, 0.9)
        for k, w in enumerate(text.split())
    )
    return Turn(index=index, speaker=speaker, start=start, end=words[-1].end, text=text, words=words)


def kinds(text: str, previous: str = "") -> list[tuple[str, str]]:
    return [(f.kind, text[f.start:f.end]) for f in find_pii(text, previous=previous)]


def test_luhn() -> None:
    assert luhn_ok("4111111111111111")
    assert luhn_ok("79927398713")
    assert not luhn_ok("4111111111111112")
    assert not luhn_ok("")


def test_luhn_valid_card_is_a_card_and_invalid_is_not() -> None:
    assert kinds("my card is 4111 1111 1111 1111 okay") == [("card", "4111 1111 1111 1111")]
    assert kinds("it's 4111-1111-1111-1112") == [("number", "4111-1111-1111-1112")]
    assert classify_digits("4111111111111112", context="card") == "number"


def test_spoken_card_number() -> None:
    spoken = "four one one one one one one one one one one one one one one one"
    assert kinds(f"sure it's {spoken}") == [("card", spoken)]


def test_spoken_digit_runs() -> None:
    assert kinds("four five seven two one") == [("number", "four five seven two one")]
    spoken = "five oh two, double seven, three one"
    assert kinds(f"it's {spoken}") == [("number", spoken)]


def test_account_order_and_phone_numbers_by_context() -> None:
    assert kinds("my account number is one two three four") == [("account", "one two three four")]
    assert kinds("the order number is AB12345") == [("order", "AB12345")]
    assert kinds("call me at 555-123-4567 please") == [("phone", "555-123-4567")]
    assert kinds("you can reach me on five five five one two three four five six seven") == [
        ("phone", "five five five one two three four five six seven")
    ]


def test_year_like_numbers_under_a_digits_or_birth_cue_are_redacted() -> None:
    assert kinds("the last four digits are 2019") == [("number", "2019")]
    assert kinds("I was born in 1985") == [("dob", "1985")]
    assert kinds("the last four of my social are 1234") == [("ssn", "1234")]
    assert kinds("my zip code is 90210") == [("address", "90210")]


def test_phone_shaped_numbers_are_phones_whatever_the_cue() -> None:
    assert kinds("my number is 312 555 0196") == [("phone", "312 555 0196")]
    assert kinds("Sure, it's 415 555 0148.", previous="What's the mobile number on the account?") == [
        ("phone", "415 555 0148")
    ]


def test_spoken_email_with_digits_in_the_name() -> None:
    spoken = "lucy dot chen 88 at outlook dot com"
    assert kinds(f"Okay, {spoken}. That's updated.") == [("email", spoken)]


def test_context_from_the_question_before() -> None:
    question = "Can I have your account number?"
    assert kinds("Sure, it's 8 8 1 2 3.", previous=question) == [("account", "8 8 1 2 3")]


def test_emails_written_and_spoken() -> None:
    assert kinds("it's jane.doe@example.org thanks") == [("email", "jane.doe@example.org")]
    spoken = "john dot smith at gmail dot com"
    assert kinds(f"my email is {spoken}") == [("email", spoken)]
    assert kinds("send it to mary_k at outlook.com") == [("email", "mary_k at outlook.com")]


def test_dates_of_birth_only_in_context() -> None:
    assert kinds("my date of birth is March 3rd, 1985") == [("dob", "March 3rd, 1985")]
    question = "Can you confirm your date of birth?"
    spoken = "the fifth of June nineteen eighty five"
    assert kinds(f"Sure, {spoken}.", previous=question) == [("dob", spoken)]
    assert kinds("it was delivered on March 3rd") == []


def test_addresses() -> None:
    assert kinds("I live at 123 Main Street, Springfield, IL 62704.") == [
        ("address", "123 Main Street, Springfield, IL 62704")
    ]
    assert kinds("ship it to 42 Elm Road apartment 4B") == [("address", "42 Elm Road apartment 4B")]
    assert kinds("I spent 5 minutes with Dr. Lee") == []
    assert kinds("I'm at 14 Birchwood Lane.") == [("address", "14 Birchwood Lane")]
    assert kinds("It's 9 Elm St. near the park") == [("address", "9 Elm St.")]


@pytest.mark.parametrize(
    "text",
    [
        "Your refund of $45.20 will arrive within 3 to 5 business days.",
        "That's 45 dollars and it ships at 3:30 pm.",
        "It costs 1,200 dollars a year, about 20 percent more.",
        "I've called two or three times since 2019.",
        "We have 50000 points on the plan.",
        "Oh, okay, one moment please.",
        "The account was opened in 2019 and renewed in 2021.",
    ],
)
def test_money_times_and_short_numbers_are_kept(text: str) -> None:
    assert find_pii(text) == []


def test_redacted_turn_text_words_and_span_times() -> None:
    text = "Sure, it's 4111 1111 1111 1111, and email me at bob@example.com."
    turn = timed_turn(4, "customer", text, start=10.0)
    redacted, spans = redact_turn(turn)
    assert redacted.text == "Sure, it's [CARD], and email me at [EMAIL]."
    assert [w.word for w in redacted.words] == [
        " Sure,", " it's", " [CARD],", " and", " email", " me", " at", " [EMAIL]."
    ]
    card, email = spans
    assert (card.turn, card.kind) == (4, "card")
    # The four card words are words 2..5: 11.0 s to the end of the fifth word (12.5 + 0.4).
    assert (card.start, card.end) == pytest.approx((11.0, 12.9))
    assert redacted.text[card.char_start:card.char_end] == "[CARD]"
    assert redacted.text[email.char_start:email.char_end] == "[EMAIL]"
    assert email.start == pytest.approx(15.0)  # the eleventh word
    card_word = redacted.words[2]
    assert (card_word.start, card_word.end) == (card.start, card.end)


def test_span_times_without_words_are_placed_by_characters() -> None:
    text = "number 4111111111111111"
    turn = Turn(index=0, speaker="customer", start=0.0, end=2.3, text=text)
    _, (span,) = redact_turn(turn)
    assert span.start == pytest.approx(0.7) and span.end == pytest.approx(2.3)


def test_redact_transcript_keeps_clean_turns_and_uses_previous_turn() -> None:
    turns = (
        timed_turn(0, "agent", "Can I have your date of birth?"),
        timed_turn(1, "customer", "It's 04/12/1990.", start=3.0),
        timed_turn(2, "agent", "Thanks, your refund of $45.20 is on its way.", start=6.0),
    )
    transcript = Transcript(turns=turns, language="en", duration_s=10.0, channels=2)
    redacted, spans = redact_transcript(transcript)
    assert [t.text for t in redacted.turns] == [turns[0].text, "It's [DOB].", turns[2].text]
    assert redacted.turns[0] is turns[0]
    assert [(s.turn, s.kind) for s in spans] == [(1, "dob")]
    assert transcript.turns[1].text == "It's 04/12/1990."  # the input is untouched


def test_empty_and_wordless_turns() -> None:
    empty = Transcript(turns=(), language="en", duration_s=0.0, channels=1)
    assert redact_transcript(empty) == (empty, ())
    blank = Turn(index=0, speaker="unknown", start=0.0, end=1.0, text="")
    assert redact_turn(blank) == (blank, ())


def test_birth_date_answer_split_over_two_turns() -> None:
    turns = (
        timed_turn(0, "agent", "Can I have your full name and date on birth?"),
        timed_turn(1, "customer", "Karen Mitchell March 14,", start=3.0),
        timed_turn(2, "customer", "1979.", start=6.0),
    )
    redacted, spans = redact_transcript(Transcript(turns=turns, language="en", duration_s=8.0, channels=2))
    assert [t.text for t in redacted.turns[1:]] == ["Karen Mitchell [DOB],", "[DOB]."]
    assert [(s.turn, s.kind) for s in spans] == [(1, "dob"), (2, "dob")]
