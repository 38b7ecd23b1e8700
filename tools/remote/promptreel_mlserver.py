"""MLServer runtime that serves one ONNX graph with ONNX Runtime on the CPU.

Promptreel's remote graph backend sends each graph call (text encoder, denoiser, VAE) to a KServe
v2 / Open Inference Protocol server over gRPC: NVIDIA Triton in production. Triton cannot be
installed everywhere, so the tests and benches run MLServer (Seldon's KServe v2 server) with this
runtime instead; tools/remote/serve_mlserver.py points MLServer at it, one model per graph.

What it presents is what Triton's onnxruntime backend would:
  - metadata: every input and output with its KServe datatype (FP32, FP16, INT64, ...) and its
    shape, -1 for each dynamic or symbolic dim. A rank-0 (scalar) tensor is declared as [1]:
    Triton has no empty dims (a scalar is `dims: [1]` plus `reshape: { shape: [] }` in its
    config), so a client sends and receives scalars as shape [1];
  - inference: exactly the outputs the request names (all of them if it names none), as raw
    little-endian bytes when the request came with raw inputs (MLServer's gRPC layer answers raw
    to raw, typed to typed; FP16 works raw only, BF16 not at all: MLServer has no BF16);
  - `promptreel_compute_us`, an int64 response parameter: the microseconds spent in
    `session.run` alone, so a client can tell compute from transport.
A malformed request (unknown or missing input, wrong datatype or shape, unknown output) fails
with MLServer's InferenceError, which its gRPC layer turns into INVALID_ARGUMENT with our message.

The session options match the Rust client's local sessions (onnx/src/runtime/graph.rs), so a
graph gives bit-identical results remote or local: all graph optimisations, one inter-op thread,
intra-op threads from PROMPTREEL_SERVER_THREADS (default 0: ONNX Runtime chooses).
"""

import asyncio
import os
import time

import numpy as np
import onnxruntime as ort
from mlserver import MLModel
from mlserver.errors import InferenceError
from mlserver.types import (
    InferenceRequest,
    InferenceResponse,
    MetadataTensor,
    Parameters,
    ResponseOutput,
    TensorData,
)

# The response parameter that carries the compute time, in microseconds (int64_param over gRPC).
COMPUTE_PARAMETER = "promptreel_compute_us"
# Intra-op threads of every session; unset or 0 lets ONNX Runtime choose.
THREADS_ENV = "PROMPTREEL_SERVER_THREADS"

# ONNX Runtime's element type -> (KServe v2 datatype, NumPy dtype). BF16 has no NumPy dtype, and
# MLServer 1.7.1 has no BF16 datatype either: such a port is declared in the metadata, but a
# request that carries one fails in MLServer's gRPC layer before it reaches this runtime.
_ONNX_TYPES = {
    "tensor(float)": ("FP32", np.float32),
    "tensor(float16)": ("FP16", np.float16),
    "tensor(bfloat16)": ("BF16", None),
    "tensor(double)": ("FP64", np.float64),
    "tensor(int64)": ("INT64", np.int64),
    "tensor(int32)": ("INT32", np.int32),
    "tensor(int16)": ("INT16", np.int16),
    "tensor(int8)": ("INT8", np.int8),
    "tensor(uint64)": ("UINT64", np.uint64),
    "tensor(uint32)": ("UINT32", np.uint32),
    "tensor(uint16)": ("UINT16", np.uint16),
    "tensor(uint8)": ("UINT8", np.uint8),
    "tensor(bool)": ("BOOL", np.bool_),
}


class _Port:
    """One input or output of the graph, as the session declares it."""

    def __init__(self, arg):
        if arg.type not in _ONNX_TYPES:
            raise ValueError(f"'{arg.name}' is a {arg.type}, which this runtime cannot serve")
        self.name = arg.name
        self.datatype, self.dtype = _ONNX_TYPES[arg.type]
        self.rank = len(arg.shape)
        # Fixed dims are ints; dynamic ones come back as None or as a symbol's name.
        dims = [d if isinstance(d, int) and d >= 0 else -1 for d in arg.shape]
        self.shape = dims if dims else [1]  # a scalar travels as [1], as with Triton

    def metadata(self) -> MetadataTensor:
        if self.dtype is None:  # BF16: not in MLServer's Datatype enum, so skip its validation
            return MetadataTensor.model_construct(
                name=self.name, datatype=self.datatype, shape=self.shape
            )
        return MetadataTensor(name=self.name, datatype=self.datatype, shape=self.shape)


def _session_threads() -> int:
    value = os.environ.get(THREADS_ENV, "").strip() or "0"
    try:
        threads = int(value)
    except ValueError:
        threads = -1
    if threads < 0:
        raise ValueError(
            f"{THREADS_ENV} must be a whole number of threads (0: ONNX Runtime chooses), "
            f"not {value!r}"
        )
    return threads


class OnnxGraph(MLModel):
    """Serves the ONNX graph at the model settings' `parameters.uri`."""

    async def load(self) -> bool:
        params = self.settings.parameters
        path = params.uri if params is not None else None
        if not path:
            raise ValueError(f"model '{self.name}' has no parameters.uri (its model.onnx)")
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.inter_op_num_threads = 1
        opts.intra_op_num_threads = _session_threads()
        # The path is used as given, not resolved: external-data files sit next to it.
        self._session = ort.InferenceSession(
            path, sess_options=opts, providers=["CPUExecutionProvider"]
        )
        self._inputs = {arg.name: _Port(arg) for arg in self._session.get_inputs()}
        self._outputs = {arg.name: _Port(arg) for arg in self._session.get_outputs()}
        # MLModel.metadata() answers ModelMetadata from these.
        self.inputs = [port.metadata() for port in self._inputs.values()]
        self.outputs = [port.metadata() for port in self._outputs.values()]
        return True

    def _feed(self, request_input) -> np.ndarray:
        """The request input as the array the session takes, or InferenceError."""
        port = self._inputs.get(request_input.name)
        if port is None:
            raise InferenceError(
                f"unexpected inference input '{request_input.name}' for model '{self.name}'; "
                f"its inputs are {sorted(self._inputs)}"
            )
        datatype = getattr(request_input.datatype, "value", request_input.datatype)
        if datatype != port.datatype:
            raise InferenceError(
                f"input '{port.name}' of model '{self.name}' is {port.datatype}, not {datatype}"
            )
        shape = [int(d) for d in request_input.shape]
        fits = len(shape) == len(port.shape)
        if not fits or any(want not in (-1, dim) for want, dim in zip(port.shape, shape)):
            raise InferenceError(
                f"unexpected shape for input '{port.name}' of model '{self.name}': "
                f"expected {port.shape}, got {shape}"
            )
        data = getattr(request_input.data, "root", request_input.data)
        count = int(np.prod(shape))
        if len(data) != count:  # raw contents of the wrong size never get here: MLServer checks
            raise InferenceError(
                f"input '{port.name}' of model '{self.name}' holds {len(data)} values, "
                f"not the {count} of shape {shape}"
            )
        try:
            # MLServer has already unpacked raw_input_contents into a list of Python numbers, all
            # exact for the datatype (a float32 round-trips exactly through a Python float).
            array = np.fromiter(data, dtype=port.dtype, count=count).reshape(shape)
        except (TypeError, ValueError, OverflowError) as err:
            raise InferenceError(f"input '{port.name}' of model '{self.name}': {err}") from None
        if port.rank == 0:
            array = array.reshape(())  # sent as [1], the graph wants a scalar
        return array

    def _run(self, names, feeds):
        start = time.perf_counter_ns()
        results = self._session.run(names, feeds)
        return results, (time.perf_counter_ns() - start) // 1000

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        feeds = {}
        for request_input in payload.inputs:
            if request_input.name in feeds:
                raise InferenceError(f"input '{request_input.name}' is given twice")
            feeds[request_input.name] = self._feed(request_input)
        missing = [name for name in self._inputs if name not in feeds]
        if missing:
            raise InferenceError(
                f"expected {len(self._inputs)} inputs but got {len(feeds)} "
                f"for model '{self.name}'; "
                f"missing {missing}"
            )

        names = [out.name for out in payload.outputs or []] or list(self._outputs)
        unknown = [name for name in names if name not in self._outputs]
        if unknown:
            raise InferenceError(
                f"unexpected inference output {unknown} for model '{self.name}'; "
                f"its outputs are {sorted(self._outputs)}"
            )

        try:
            # In a worker thread, so that the server keeps answering (ServerReady, ...) meanwhile.
            results, compute_us = await asyncio.to_thread(self._run, names, feeds)
        except Exception as err:  # ONNX Runtime's own checks, e.g. dims the graph cannot take
            raise InferenceError(f"model '{self.name}' failed: {err}") from None

        outputs = []
        for name, array in zip(names, results):
            port = self._outputs[name]
            shape = list(array.shape) or [1]  # a scalar travels as [1]
            # MLServer packs this list into raw_output_contents when the request was raw (with
            # struct, in the machine's byte order: little-endian on x86-64 and arm64), else into
            # the typed contents. model_construct skips pydantic's validation, which costs more
            # than a small graph's run on a list of millions of numbers; the fields are right.
            data = TensorData.model_construct(root=array.ravel().tolist())
            outputs.append(
                ResponseOutput.model_construct(
                    name=name, datatype=port.datatype, shape=shape, data=data
                )
            )
        return InferenceResponse(
            model_name=self.name,
            model_version=self.version,
            parameters=Parameters(**{COMPUTE_PARAMETER: int(compute_us)}),
            outputs=outputs,
        )
