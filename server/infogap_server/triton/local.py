"""Start and stop the real Triton Inference Server 2.51 that the PyPI wheel ``nvidia-pytriton`` bundles.

Used by ``infogap triton`` (the production path on a laptop) and by the tests. It assembles a backend directory
with Triton's Python backend and the project's Python-based ``onnxruntime`` backend, starts ``tritonserver`` on
the model repository, waits until the server and its models are ready, and stops it with SIGTERM.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

BACKEND_SOURCE = Path(__file__).parent / "onnxruntime_backend" / "model.py"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class TritonInstall:
    """Where the wheel put the server binary, its libraries, the Python backend and the per-Python stubs."""

    binary: Path
    libs: Path
    python_backend: Path
    stub: Path

    @classmethod
    def find(cls) -> TritonInstall:
        spec = importlib.util.find_spec("pytriton")
        if spec is None or spec.origin is None:
            raise RuntimeError("nvidia-pytriton is not installed: pip install nvidia-pytriton==0.7.0")
        root = Path(spec.origin).parent / "tritonserver"
        version = f"{sys.version_info.major}.{sys.version_info.minor}"
        install = cls(
            binary=root / "bin" / "tritonserver",
            libs=Path(spec.origin).parent.parent / "nvidia_pytriton.libs",
            python_backend=root / "backends" / "python",
            stub=root / "python_backend_stubs" / version / "triton_python_backend_stub",
        )
        for path in (install.binary, install.libs, install.python_backend, install.stub):
            if not path.exists():
                raise RuntimeError(f"nvidia-pytriton is incomplete: {path} is missing")
        return install


def prepare_backend_directory(target: Path, install: TritonInstall | None = None) -> Path:
    """``target/python`` (Triton's Python backend and the stub for this Python) and ``target/onnxruntime``."""
    install = install or TritonInstall.find()
    python_dir = target / "python"
    python_dir.mkdir(parents=True, exist_ok=True)
    for item in install.python_backend.iterdir():
        if item.is_file():
            shutil.copy2(item, python_dir / item.name)
    shutil.copy2(install.stub, python_dir / install.stub.name)
    ort_dir = target / "onnxruntime"
    ort_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy2(BACKEND_SOURCE, ort_dir / "model.py")
    paths = sysconfig.get_paths()
    (ort_dir / "python_paths.txt").write_text("\n".join(dict.fromkeys([paths["purelib"], paths["platlib"]])) + "\n")
    return target


class LocalTriton:
    """A tritonserver process on loopback. ``start()`` returns once the server and every model are ready."""

    def __init__(
        self,
        model_repository: Path,
        *,
        grpc_port: int | None = None,
        http_port: int | None = None,
        metrics_port: int | None = None,
        workdir: Path | None = None,
        log_file: Path | None = None,
    ) -> None:
        self.model_repository = Path(model_repository).resolve()
        self.grpc_port = grpc_port or _free_port()
        self.http_port = http_port or _free_port()
        self.metrics_port = metrics_port or _free_port()
        self._own_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="infogap-triton-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_file = log_file or self.workdir / "tritonserver.log"
        self.process: subprocess.Popen | None = None

    @property
    def grpc_address(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def command(self) -> list[str]:
        install = TritonInstall.find()
        backends = prepare_backend_directory(self.workdir / "backends", install)
        return [
            str(install.binary),
            f"--model-repository={self.model_repository}",
            f"--backend-directory={backends}",
            f"--grpc-port={self.grpc_port}",
            f"--http-port={self.http_port}",
            f"--metrics-port={self.metrics_port}",
            "--allow-metrics=true",
            "--allow-gpu-metrics=false",
            "--allow-cpu-metrics=false",
            "--log-verbose=0",
            "--exit-on-error=true",
        ]

    def environment(self) -> dict[str, str]:
        install = TritonInstall.find()
        env = dict(os.environ)
        env["LD_LIBRARY_PATH"] = os.pathsep.join(p for p in (str(install.libs), env.get("LD_LIBRARY_PATH")) if p)
        return env

    def start(self, timeout_s: float = 120.0) -> LocalTriton:
        if self.process is not None and self.process.poll() is None:
            return self
        log = open(self.log_file, "ab")
        self.process = subprocess.Popen(
            self.command(), env=self.environment(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        self.wait_ready(timeout_s)
        return self

    def wait_ready(self, timeout_s: float = 120.0) -> None:
        import tritonclient.grpc as grpcclient

        deadline = time.monotonic() + timeout_s
        client = grpcclient.InferenceServerClient(self.grpc_address)
        try:
            while time.monotonic() < deadline:
                if self.process is not None and self.process.poll() is not None:
                    raise RuntimeError(f"tritonserver exited with {self.process.returncode}: {self.tail_log()}")
                try:
                    if client.is_server_ready():
                        return
                except Exception:  # not listening yet
                    pass
                time.sleep(0.2)
        finally:
            client.close()
        raise TimeoutError(f"tritonserver was not ready within {timeout_s}s: {self.tail_log()}")

    def tail_log(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout_s: float = 30.0) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)  # the stubs are in its session too
                self.process.wait()
        self.process = None

    def close(self) -> None:
        self.stop()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> LocalTriton:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
