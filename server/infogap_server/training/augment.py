"""Wording noise for training: the same need said with typos, or wrapped in feeling, courtesy or context.

Customers misspell, vent, greet and explain; none of it changes what they need. Each epoch, shares of the
training messages (``Recipe.wrap_probability``, ``Recipe.typo_probability``) are rewritten on the fly, so the
encoder learns that the need stays when the wording around it moves. The phrases here are written for training
only: the behavioural suite (``checklist_v1.yaml``) has its own, and a test keeps the two apart. Typos are drawn
independently of the wrapping: a build with one change per rewritten message (30% of messages) left 13% of the
suite's typo cases flipping the answer, one with typos on 35% of messages 10%. An angry wrapper makes the
message's sentiment label negative; the others keep it.
"""

from __future__ import annotations

import random
import re

_LETTERS = "abcdefghijklmnopqrstuvwxyz"

#: Feeling: the message becomes negative.
ANGRY_OPENINGS = (
    "Really not happy right now. ", "Third time I'm asking. ", "I'm losing my patience here. ", "Seriously?? ",
    "what a mess. ", "Getting really annoyed now. ", "Not impressed at all. ", "This is beyond a joke. ",
    "I've had enough of this. ", "So disappointed. ", "ugh. ", "Are you kidding me. ",
)
ANGRY_CLOSINGS = (
    " Not happy!!", " Fix this please, I'm livid.", " Really poor.", " Absolutely shocking.", " so annoyed",
    " I expected better from you.", " Sick of this.", " Do better.", " This has ruined my week.",
    " Never again.", " Disgraceful.", " FFS.",
)
#: Courtesy, urgency and context: the sentiment label stays.
NEUTRAL_OPENINGS = (
    "Hello team, ", "Hey, ", "Good afternoon. ", "Hi, hope your day is going well. ", "Morning! ",
    "Hi there, first time writing in. ", "Hiya, ", "Hello again, ", "Quick question: ", "Hi support, ",
    "I'm on my lunch break so quickly: ", "Sorry if this is the wrong place. ", "My husband asked me to write. ",
    "Writing on behalf of my mum. ", "This is a bit time sensitive. ", "Hoping you can help. ",
)
NEUTRAL_CLOSINGS = (
    " Thanks!", " Thank you.", " thx", " Appreciate it.", " Kind regards.", " Many thanks, Sam", " Ta.",
    " Speak soon.", " I'm free after 5pm if you need to call.", " Sent from my phone.",
    " Need to know today if possible.",
    " Hope that makes sense.", " No rush.", " Would be grateful for a quick reply.", " I'm travelling next week.",
    " My reference is on the email.",
)

_WORD = re.compile(r"[A-Za-z]{3,}")


def typos(text: str, rng: random.Random) -> str:
    """One or two keyboard slips inside words of three letters or more: a swap, a dropped, a doubled or a wrong
    letter."""
    chars = list(text)
    for _ in range(rng.choice((1, 1, 2))):
        words = list(_WORD.finditer("".join(chars)))
        if not words:
            break
        word = rng.choice(words)
        i = rng.randrange(word.start(), word.end() - 1)
        kind = rng.randrange(4)
        if kind == 0:
            chars[i], chars[i + 1] = chars[i + 1], chars[i]
        elif kind == 1:
            del chars[i]
        elif kind == 2:
            chars.insert(i, chars[i])
        else:
            chars[i] = rng.choice(_LETTERS)
    return "".join(chars)


def augment(text: str, sentiment: str | None, rng: random.Random, wrap_probability: float,
            typo_probability: float) -> tuple[str, str | None]:
    """The message, wrapped (with ``wrap_probability``: in anger, which makes its sentiment negative, or in
    courtesy or context) and then given typos (with ``typo_probability``), with its sentiment label afterwards."""
    if rng.random() < wrap_probability:
        kind = rng.randrange(4)
        negative = "negative" if sentiment is not None else None
        if kind == 0:
            text, sentiment = rng.choice(ANGRY_OPENINGS) + text, negative
        elif kind == 1:
            text, sentiment = text.rstrip() + rng.choice(ANGRY_CLOSINGS), negative
        elif kind == 2:
            text = rng.choice(NEUTRAL_OPENINGS) + text
        else:
            text = text.rstrip() + rng.choice(NEUTRAL_CLOSINGS)
    if rng.random() < typo_probability:
        text = typos(text, rng)
    return text, sentiment
