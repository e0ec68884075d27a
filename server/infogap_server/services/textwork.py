"""Where CPU work on caller text runs: on the event loop when the text is short, on a worker thread when it is long.

Every step that costs time in the length of caller text (tokenization, entity and urgency patterns) goes through
:func:`run_text_work`. Short texts, the common case, run inline: a thread hop would cost more than the work. Past
:data:`INLINE_TEXT_CHARS` characters the work moves to a thread, so a batch of long messages never holds the event
loop (other calls, health checks) for more than Python's thread switch interval. The patterns are linear-time
(RE2) and the tokenizer is Rust; both release the GIL while they scan.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

#: Total characters of caller text above which the work runs on a worker thread (about 0.3 ms of work inline).
INLINE_TEXT_CHARS = 512


async def run_text_work(chars: int, fn: Callable[..., T], *args: object) -> T:
    """``fn(*args)``, inline for at most :data:`INLINE_TEXT_CHARS` characters of text, else on a worker thread."""
    if chars <= INLINE_TEXT_CHARS:
        return fn(*args)
    return await asyncio.to_thread(fn, *args)
