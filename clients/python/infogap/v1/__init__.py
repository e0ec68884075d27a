"""Generated protobuf and gRPC stubs for infogap.v1 (``make protos``; do not edit the *_pb2 files)."""
