"""No-op backend: answers every batch with zeros of the declared output shapes, without running a model.

For measuring the gateway alone (gRPC, validation, tokenization, batching, conversion) with ``infogap bench
--paths noop``; never a serving default. Scores from it are uniform, so every message is out of scope.
"""

from __future__ import annotations

import numpy as np

from infogap_server.errors import Unavailable
from infogap_server.models.repository import ModelConfig
from infogap_server.settings import Settings


class NoopBackend:
    name = "noop"
    batches_itself = False

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._configs: dict[str, ModelConfig] = {}
        self._versions: dict[str, set[int]] = {}
        self.max_batch_size: dict[str, int] = {}

    async def load(self, model: str, version: int) -> None:
        config = ModelConfig.read(self._settings.model_repository, model)
        self._configs[model] = config
        self._versions.setdefault(model, set()).add(version)
        self.max_batch_size[model] = config.max_batch_size

    async def unload(self, model: str, version: int) -> None:
        loaded = self._versions.get(model, set())
        loaded.discard(version)
        if not loaded:
            self._versions.pop(model, None)
            self._configs.pop(model, None)
            self.max_batch_size.pop(model, None)

    async def infer(
        self, model: str, inputs: dict[str, np.ndarray], *, version: int | None = None
    ) -> dict[str, np.ndarray]:
        if not await self.is_ready(model, version):
            raise Unavailable(f"model {model} is not loaded")
        batch = next(iter(inputs.values())).shape[0]
        dims = self._configs[model].output_dims
        return {name: np.zeros((batch, *shape), dtype=np.float32) for name, shape in dims.items()}

    async def is_ready(self, model: str, version: int | None = None) -> bool:
        loaded = self._versions.get(model, set())
        return bool(loaded) if version is None else version in loaded

    async def close(self) -> None:
        self._configs.clear()
        self._versions.clear()
