"""A local Triton Inference Server for development and CI, and the Python-based ONNX Runtime backend it uses."""
