"""No-op backend: answers every batch with zeros of the declared output shapes, without running a model.

For measuring the gateway alone (gRPC, validation, tokenization, batching, conversion) with ``infogap bench
--paths noop``; never a serving default. Scores from it are uniform, so every message is out of scope.
"""

from __future__ import annotations

import numpy as np

from infogap_server.model_repository import ModelConfig
from infogap_server.settings import Settings


class NoopBackend:
    name = "noop"
    batches_itself = False

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._configs: dict[str, ModelConfig] = {}
        self.max_batch_size: dict[str, int] = {}

    async def load(self, model: str, version: int) -> None:
        config = ModelConfig.read(self._settings.model_repository, model)
        self._configs[model] = config
        self.max_batch_size[model] = config.max_batch_size

    async def infer(self, model: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        batch = next(iter(inputs.values())).shape[0]
        dims = self._configs[model].output_dims
        return {name: np.zeros((batch, *shape), dtype=np.float32) for name, shape in dims.items()}

    async def is_ready(self, model: str) -> bool:
        return model in self._configs

    async def close(self) -> None:
        self._configs.clear()
