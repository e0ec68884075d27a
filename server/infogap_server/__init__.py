"""infogap gateway: a gRPC inference server for customer service."""

__version__ = "0.1.0"
