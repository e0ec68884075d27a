"""Embedded backend: ONNX Runtime in the gateway process, reading the same model repository as Triton.

This is the only module that imports onnxruntime.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import onnxruntime as ort

from infogap_server.errors import Unavailable
from infogap_server.models.repository import ModelConfig, model_file
from infogap_server.settings import Settings


class EmbeddedBackend:
    """One ONNX Runtime session per loaded model version, run on one worker thread so the event loop never blocks.

    It does not batch by itself: the gateway's micro-batcher forms the batches (``batches_itself`` is False).
    """

    name = "embedded"
    batches_itself = False

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        #: Per model, its loaded versions and their sessions, in the order they were loaded (the last is the default).
        self._sessions: dict[str, dict[int, ort.InferenceSession]] = {}
        #: Per model, the batch limit from config.pbtxt (the micro-batcher never exceeds it).
        self.max_batch_size: dict[str, int] = {}
        # One thread: on a small machine two concurrent runs only fight over the same cores; ONNX Runtime's own
        # intra-op threads use them all for one batch.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="onnxruntime")

    async def load(self, model: str, version: int) -> None:
        path = model_file(self._settings.model_repository, model, version)
        if not path.is_file():
            raise Unavailable(f"model {model} version {version} has no model.onnx in the repository")
        options = ort.SessionOptions()
        options.intra_op_num_threads = self._settings.intra_op_threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry(
            "session.intra_op.allow_spinning", "1" if self._settings.intra_op_spinning else "0"
        )
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        loop = asyncio.get_running_loop()
        session = await loop.run_in_executor(
            self._executor,
            lambda: ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"]),
        )
        # The same config.pbtxt that Triton reads: the model must have exactly the tensors it declares.
        config = ModelConfig.read(self._settings.model_repository, model)
        inputs = tuple(i.name for i in session.get_inputs())
        outputs = tuple(o.name for o in session.get_outputs())
        if set(inputs) != set(config.inputs) or set(outputs) != set(config.outputs):
            raise Unavailable(
                f"model {model} version {version} does not match its config.pbtxt: "
                f"inputs {inputs} vs {config.inputs}, outputs {outputs} vs {config.outputs}"
            )
        loaded = self._sessions.setdefault(model, {})
        loaded.pop(version, None)  # loaded again: it becomes the last loaded
        loaded[version] = session
        self.max_batch_size[model] = config.max_batch_size

    async def unload(self, model: str, version: int) -> None:
        # Runs already holding the session finish on it; later calls for this version are UNAVAILABLE.
        loaded = self._sessions.get(model, {})
        loaded.pop(version, None)
        if not loaded:
            self._sessions.pop(model, None)
            self.max_batch_size.pop(model, None)

    def _session(self, model: str, version: int | None) -> ort.InferenceSession | None:
        loaded = self._sessions.get(model)
        if not loaded:
            return None
        return loaded[next(reversed(loaded))] if version is None else loaded.get(version)

    async def infer(
        self, model: str, inputs: dict[str, np.ndarray], *, version: int | None = None
    ) -> dict[str, np.ndarray]:
        session = self._session(model, version)
        if session is None:
            raise Unavailable(f"model {model} {'' if version is None else f'version {version} '}is not loaded")
        names = [o.name for o in session.get_outputs()]
        loop = asyncio.get_running_loop()
        outputs = await loop.run_in_executor(self._executor, session.run, names, inputs)
        return dict(zip(names, outputs, strict=False))

    async def is_ready(self, model: str, version: int | None = None) -> bool:
        return self._session(model, version) is not None

    async def close(self) -> None:
        self._sessions.clear()
        self._executor.shutdown(wait=True, cancel_futures=True)
