"""Python client for the infogap gRPC API (generated stubs in ``infogap.v1``)."""

from infogap.client import (
    DEFAULT_ADDRESS,
    DEFAULT_TIMEOUT_S,
    AsyncInfoGapClient,
    InfoGapClient,
    InfoGapError,
    customer_event,
)

__all__ = [
    "AsyncInfoGapClient", "DEFAULT_ADDRESS", "DEFAULT_TIMEOUT_S", "InfoGapClient", "InfoGapError", "customer_event",
]
