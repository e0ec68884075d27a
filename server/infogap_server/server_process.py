"""``infogap serve`` as a real child process, for what only a process shows: signals, exit codes, its log.

A development tool (tests, ``infogap fuzz``); nothing in the serving path imports it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

INFOGAP = Path(sys.executable).with_name("infogap")


class ServerProcess:
    """Starts ``infogap serve`` with ``INFOGAP_*`` settings from ``env``; reads its JSON log lines as they come."""

    def __init__(self, repository: Path, **settings: object) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("INFOGAP_")}
        base = {"port": 0, "metrics_port": 0, "model_repository": repository, "log_level": "INFO"}
        if "data_dir" not in settings:  # each process its own store and key, unless told to share one
            base["data_dir"] = tempfile.mkdtemp(prefix="infogap-data-")
        base.update(settings)
        for name, value in base.items():
            if value is None:
                continue
            env[f"INFOGAP_{name.upper()}"] = str(value)
        self.started_at = time.monotonic()
        self.process = subprocess.Popen(
            [str(INFOGAP), "serve"], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True, encoding="utf-8", errors="replace",
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line.rstrip("\n"))

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    def records(self) -> list[dict]:
        """The log lines as JSON objects (every line must be one)."""
        return [json.loads(line) for line in list(self.lines) if line.strip()]

    def wait_for(self, message: str, timeout_s: float = 60.0) -> dict:
        """The first log record with ``msg == message``; fails if the process exits or time runs out first."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if f'"msg": "{message}"' in line:
                    return json.loads(line)
            if self.process.poll() is not None:
                self._reader.join(2)
                raise AssertionError(f"server exited {self.process.returncode} before {message!r}:\n{self.log}")
            time.sleep(0.02)
        raise AssertionError(f"no {message!r} within {timeout_s}s:\n{self.log}")

    def start(self, timeout_s: float = 60.0) -> ServerProcess:
        """Wait until it serves; ``port`` and ``metrics_port`` are then its ports."""
        listening = self.wait_for("listening", timeout_s)
        self.port, self.metrics_port = listening["port"], listening["metrics_port"]
        self.wait_for("serving", timeout_s)
        return self

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout_s: float = 30.0) -> int:
        code = self.process.wait(timeout_s)
        self._reader.join(5)
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self._reader.join(5)

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()
