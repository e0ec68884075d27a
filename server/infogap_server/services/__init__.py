"""Domain services: pure Python types in and out, no protobuf."""
