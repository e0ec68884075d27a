"""Triton backend: the gateway's requests go to NVIDIA Triton Inference Server over tritonclient's gRPC aio
client. This is the only module that imports tritonclient.

One shared channel, reconnecting quickly after Triton restarts; the caller's remaining deadline becomes Triton's
timeout; Triton's errors become gRPC codes the gateway's callers can act on. Triton batches on its own (its
dynamic batcher), so the gateway sends each request alone.
"""

from __future__ import annotations

import asyncio
import logging
import time

import grpc
import numpy as np
import tritonclient.grpc.aio as triton_grpc
from tritonclient.utils import InferenceServerException, np_to_triton_dtype

from infogap_server.backends.base import request_deadline
from infogap_server.errors import DeadlineExceeded, InfogapError, ResourceExhausted, Unavailable
from infogap_server.settings import Settings

log = logging.getLogger("infogap.triton")

# Reconnect within about a second of Triton coming back instead of gRPC's default backoff (up to two minutes).
_CHANNEL_ARGS = [
    ("grpc.max_send_message_length", 64 * 1024 * 1024),
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 1000),
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 2_000),
    ("grpc.keepalive_permit_without_calls", 1),
]


class BackendFailure(Exception):
    """Triton rejected a request the gateway built (bad shape, bad type): our bug, INTERNAL to the caller."""


def map_triton_error(error: InferenceServerException) -> Exception:
    """Triton's error as the exception the gateway answers with."""
    status = (error.status() or "").replace("StatusCode.", "")
    message = error.message() or ""
    lowered = message.lower()
    if status == "RESOURCE_EXHAUSTED" or "maximum queue size" in lowered or "exceeds maximum" in lowered:
        return ResourceExhausted("the model server is at capacity; retry with backoff")
    if status == "DEADLINE_EXCEEDED" or "timeout" in lowered and status in ("", "UNAVAILABLE"):
        return DeadlineExceeded("the model server did not answer within the deadline")
    if status in ("UNAVAILABLE", "CANCELLED") or "not ready" in lowered or "unknown model" in lowered:
        return Unavailable("the model server or model is not available; retry shortly")
    return BackendFailure(f"triton rejected the request: {status} {message[:200]}")


class TritonBackend:
    """Calls models on a Triton server; ``batches_itself`` is True (Triton's dynamic batcher)."""

    name = "triton"
    batches_itself = True

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._client = triton_grpc.InferenceServerClient(settings.triton_address, channel_args=_CHANNEL_ARGS)
        #: Per model, the versions the gateway uses, in the order they were loaded (the last is the default).
        self._versions: dict[str, list[int]] = {}
        self.max_batch_size: dict[str, int] = {}
        self._outputs: dict[str, list[str]] = {}

    async def load(self, model: str, version: int) -> None:
        """Wait until Triton serves ``model`` at ``version`` (Triton loads it, following its own version policy;
        the gateway only checks and from then on addresses that version)."""
        started = time.monotonic()
        last_log = 0.0
        while True:
            try:
                if await self._client.is_model_ready(model, str(version), client_timeout=2.0):
                    metadata = await self._client.get_model_metadata(model, str(version), client_timeout=2.0)
                    self._outputs[model] = [o.name for o in metadata.outputs]
                    config = await self._client.get_model_config(model, str(version), client_timeout=2.0)
                    self.max_batch_size[model] = config.config.max_batch_size
                    loaded = self._versions.setdefault(model, [])
                    if version in loaded:
                        loaded.remove(version)
                    loaded.append(version)
                    return
            except InferenceServerException:
                pass
            waited = time.monotonic() - started
            if waited >= self._settings.triton_startup_timeout_s:
                raise Unavailable(f"Triton at {self._settings.triton_address} does not serve {model} v{version}")
            if waited - last_log >= 10:
                last_log = waited
                log.warning("waiting for triton", extra={"fields": {"model": model, "waited_s": round(waited)}})
            await asyncio.sleep(0.5)

    async def unload(self, model: str, version: int) -> None:
        """Stop addressing ``version`` (Triton unloads it under its own version policy)."""
        loaded = self._versions.get(model, [])
        if version in loaded:
            loaded.remove(version)
        if not loaded:
            self._versions.pop(model, None)
            self._outputs.pop(model, None)
            self.max_batch_size.pop(model, None)

    def _version(self, model: str, version: int | None) -> str | None:
        loaded = self._versions.get(model)
        if not loaded or (version is not None and version not in loaded):
            return None
        return str(loaded[-1] if version is None else version)

    async def infer(
        self, model: str, inputs: dict[str, np.ndarray], *, version: int | None = None
    ) -> dict[str, np.ndarray]:
        chosen = self._version(model, version)
        if chosen is None:
            raise Unavailable(f"model {model} is not loaded")
        deadline = request_deadline.get()
        remaining = self._settings.triton_request_timeout_s if deadline is None else deadline - time.monotonic()
        if remaining <= 0:
            raise DeadlineExceeded("the deadline passed before the model server was called")
        request = []
        for name, array in inputs.items():
            tensor = triton_grpc.InferInput(name, list(array.shape), np_to_triton_dtype(array.dtype))
            tensor.set_data_from_numpy(array)
            request.append(tensor)
        outputs = [triton_grpc.InferRequestedOutput(name) for name in self._outputs[model]]
        try:
            result = await self._client.infer(
                model,
                request,
                model_version=chosen,
                outputs=outputs,
                timeout=int(remaining * 1e6),  # Triton's own timeout, microseconds
                client_timeout=remaining,
            )
        except InferenceServerException as error:
            raise map_triton_error(error) from None
        except grpc.aio.AioRpcError as error:  # raised directly by some channel failures
            raise Unavailable(f"the model server is unreachable ({error.code().name})") from None
        return {name: result.as_numpy(name) for name in self._outputs[model]}

    async def is_ready(self, model: str, version: int | None = None) -> bool:
        chosen = self._version(model, version)
        if chosen is None and version is not None:
            return False
        try:  # a model the gateway has not loaded: whether Triton serves any version of it
            return bool(await self._client.is_model_ready(model, chosen or "", client_timeout=1.0))
        except (InferenceServerException, grpc.aio.AioRpcError):
            return False

    async def statistics(self, model: str) -> dict:
        """Triton's own inference statistics for ``model`` (batch sizes it formed, queue and compute times)."""
        return await self._client.get_inference_statistics(model, as_json=True, client_timeout=5.0)

    async def close(self) -> None:
        await self._client.close()


__all__ = ["BackendFailure", "InfogapError", "TritonBackend", "map_triton_error"]
