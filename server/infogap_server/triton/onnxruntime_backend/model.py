"""A Python-based Triton backend named ``onnxruntime``: it runs inside Triton (not in the gateway).

The Triton bundled with the PyPI wheel nvidia-pytriton ships only the Python backend. Placed at
``<backend-directory>/onnxruntime/model.py`` this file makes every model whose config says
``backend: "onnxruntime"`` load through the Python backend, so one model repository serves unchanged here and on
the official Triton container (whose native ONNX Runtime backend takes the same config).

Triton's dynamic batcher hands ``execute`` several requests at once; requests whose inputs have the same shape
beyond the batch axis run as one ONNX Runtime call, the rest one by one.
"""

import json
import os
import sys

# The Python backend's stub is its own interpreter and does not see the gateway's environment: the launcher
# (infogap_server.triton.local) writes that environment's package folders beside this file.
_PATHS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "python_paths.txt")
if os.path.exists(_PATHS):
    with open(_PATHS, encoding="utf-8") as _fh:
        sys.path[:0] = [p for p in _fh.read().splitlines() if p and p not in sys.path]

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
import triton_python_backend_utils as pb_utils  # noqa: E402


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        filename = config.get("default_model_filename") or "model.onnx"
        path = os.path.join(args["model_repository"], args["model_version"], filename)
        params = {k: v.get("string_value", "") for k, v in (config.get("parameters") or {}).items()}
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(params.get("intra_op_thread_count", "0") or 0)
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(path, sess_options=options, providers=["CPUExecutionProvider"])
        self.input_names = [i["name"] for i in config["input"]]
        self.output_names = [o["name"] for o in config["output"]]
        self.batch_sizes = []  # sizes of the batches this instance ran, for tests and statistics

    def _run(self, arrays):
        return self.session.run(self.output_names, dict(zip(self.input_names, arrays, strict=False)))

    def execute(self, requests):
        inputs = []
        for request in requests:
            arrays = []
            for name in self.input_names:
                tensor = pb_utils.get_input_tensor_by_name(request, name)
                arrays.append(None if tensor is None else tensor.as_numpy())
            inputs.append(arrays)
        responses = [None] * len(requests)
        groups = {}
        for i, arrays in enumerate(inputs):
            if any(a is None for a in arrays):
                missing = [n for n, a in zip(self.input_names, arrays, strict=False) if a is None]
                responses[i] = pb_utils.InferenceResponse(
                    error=pb_utils.TritonError(f"missing input(s): {', '.join(missing)}")
                )
                continue
            key = tuple((a.shape[1:], a.dtype.str) for a in arrays)
            groups.setdefault(key, []).append(i)
        for members in groups.values():
            try:
                stacked = [np.concatenate([inputs[i][k] for i in members]) for k in range(len(self.input_names))]
                outputs = self._run(stacked)
            except Exception as exc:  # a bad request must not take the batch's other requests down with it
                for i in members:
                    responses[i] = pb_utils.InferenceResponse(error=pb_utils.TritonError(str(exc)))
                continue
            self.batch_sizes.append(int(stacked[0].shape[0]))
            start = 0
            for i in members:
                n = inputs[i][0].shape[0]
                tensors = [
                    pb_utils.Tensor(name, out[start : start + n])
                    for name, out in zip(self.output_names, outputs, strict=True)
                ]
                responses[i] = pb_utils.InferenceResponse(output_tensors=tensors)
                start += n
        return responses

    def finalize(self):
        self.session = None
