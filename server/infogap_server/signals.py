"""Stop signals that arrive before the event loop exists.

``infogap serve`` installs these handlers first thing, before the heavy imports and the model load, so a SIGTERM
0.1 s after launch is recorded instead of killing the process with -15; the server acts on it as soon as its own
handlers are in place (see :func:`infogap_server.server.serve`).
"""

from __future__ import annotations

import signal

#: Signal numbers received before the server's own handlers replaced these.
received: list[int] = []

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def install_early_handlers() -> None:
    for sig in STOP_SIGNALS:
        signal.signal(sig, lambda signum, _frame: received.append(signum))
