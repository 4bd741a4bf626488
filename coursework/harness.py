"""The student side of the grader: runs a submission's cells in an IPython shell and answers calls with plain data.

The grader (``coursework.grade``) starts this file as a separate, sandboxed process with a request pipe and a reply
pipe (their file descriptors are its two arguments). It sends the notebook's cells to run, then calls the student's
functions by name with arguments it chose; this process replies with the results encoded by ``encode`` (JSON with arrays as raw little-endian bytes —
never pickle). Everything here runs next to the student's code and is therefore untrusted: the grader checks every
reply against its own reference and treats a missing, malformed or oversized reply as a failed test.

Students can use ``encode``/``decode`` to check that their functions return something the grader can receive.
"""
from __future__ import annotations

import base64
import json
import os
import struct
import sys

import numpy as np

MAX_MESSAGE = 256 * 2**20  # bytes; a longer message is refused, not read
_DTYPES = {"float64", "float32", "float16", "int64", "int32", "int16", "int8", "uint8", "bool"}
# Layers a returned model may be made of (assignment 3), with the constructor arguments read back from them.
LAYERS = {
    "Conv2d": ("in_channels", "out_channels", "kernel_size", "stride", "padding", "bias"),
    "Linear": ("in_features", "out_features", "bias"),
    "BatchNorm2d": ("num_features", "eps", "momentum"),
    "BatchNorm1d": ("num_features", "eps", "momentum"),
    "MaxPool2d": ("kernel_size", "stride", "padding"),
    "AvgPool2d": ("kernel_size", "stride", "padding"),
    "AdaptiveAvgPool2d": ("output_size",),
    "ReLU": (), "GELU": (), "SiLU": (), "Tanh": (), "Flatten": (), "Identity": (),
    "Dropout": ("p",), "Dropout2d": ("p",),
}


def _array(value) -> dict:
    array = np.ascontiguousarray(value)
    if array.dtype.name not in _DTYPES:
        raise TypeError(f"arrays of dtype {array.dtype.name} cannot be sent; use one of {sorted(_DTYPES)}")
    return {"__array__": array.dtype.name, "shape": list(array.shape),
            "data": base64.b64encode(array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()).decode()}


def encode(value):
    """``value`` as JSON-compatible data: numbers, strings, lists, tuples, str-keyed dicts, arrays, tensors, and
    ``nn.Sequential`` models of the ``LAYERS`` above (architecture plus weights)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return _array(value)
    if isinstance(value, (list, tuple)):
        items = [encode(v) for v in value]
        return {"__tuple__": items} if isinstance(value, tuple) else items
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError("only dicts with string keys can be sent")
        return {"__dict__": {k: encode(v) for k, v in value.items()}}
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        return {"__tensor__": _array(value.numpy()), "dtype": str(value.dtype).removeprefix("torch.")}
    if torch is not None and isinstance(value, torch.nn.Module):
        return {"__model__": _layers(value), "state": encode(dict(value.state_dict()))}
    raise TypeError(f"cannot send a {type(value).__name__}; return numbers, arrays, tensors or an nn.Sequential")


def _layers(module) -> list:
    import torch

    if type(module) is not torch.nn.Sequential:
        raise TypeError(f"return an nn.Sequential of standard layers ({', '.join(LAYERS)}), not {type(module).__name__}")
    spec = []
    for child in module:
        kind = type(child).__name__
        if type(child) is torch.nn.Sequential:
            spec.append({"type": "Sequential", "layers": _layers(child)})
        elif kind in LAYERS and type(child) is getattr(torch.nn, kind):
            args = {name: getattr(child, name) for name in LAYERS[kind]}
            if "bias" in args:
                args["bias"] = child.bias is not None
            spec.append({"type": kind, "args": encode(args)})
        else:
            raise TypeError(f"layer {kind} is not allowed; use {', '.join(LAYERS)}")
    return spec


def decode(value, torch_module=None):
    """The inverse of ``encode``, building only plain containers, arrays and tensors (models are rebuilt by the
    grader, see ``coursework.grade``). Raises ValueError on anything malformed."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list):
        return [decode(v, torch_module) for v in value]
    if not isinstance(value, dict) or len(value) == 0:
        raise ValueError("malformed message")
    if "__array__" in value:
        dtype = value["__array__"]
        if dtype not in _DTYPES:
            raise ValueError(f"dtype {dtype!r} not allowed")
        shape = tuple(int(n) for n in value["shape"])
        data = base64.b64decode(value["data"], validate=True)
        return np.frombuffer(data, dtype=np.dtype(dtype).newbyteorder("<")).astype(dtype).reshape(shape)
    if "__tensor__" in value:
        torch = torch_module or __import__("torch")
        return torch.from_numpy(decode(value["__tensor__"]).copy())
    if "__tuple__" in value:
        return tuple(decode(v, torch_module) for v in value["__tuple__"])
    if "__dict__" in value:
        return {str(k): decode(v, torch_module) for k, v in value["__dict__"].items()}
    if "__model__" in value:
        return {"model": value["__model__"], "state": decode(value["state"], torch_module)}
    raise ValueError("malformed message")


def send(fd: int, message: dict) -> None:
    data = json.dumps(message).encode()
    os.write(fd, struct.pack("<Q", len(data)))
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def receive(fd: int) -> dict:
    header = _read_exactly(fd, 8)
    (length,) = struct.unpack("<Q", header)
    if length > MAX_MESSAGE:
        raise ValueError(f"message of {length} bytes is over the {MAX_MESSAGE} limit")
    return json.loads(_read_exactly(fd, length))


def _read_exactly(fd: int, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise EOFError("pipe closed")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _error_name(err: BaseException) -> str:
    # Only a built-in exception's name is reported: a student-made class name could carry data out.
    name = type(err).__name__
    import builtins

    return name if isinstance(getattr(builtins, name, None), type) else "an exception"


def main() -> None:  # pragma: no cover - runs inside the sandbox
    import signal

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an oversized write fails with an error instead of killing us
    requests, replies = int(sys.argv[1]), int(sys.argv[2])
    from IPython.core.interactiveshell import InteractiveShell

    class Shell(InteractiveShell):
        def enable_gui(self, gui=None):  # no event loop needed: %matplotlib inline just draws into the output
            pass

    shell = Shell.instance(colors="NoColor")
    setup = receive(requests)
    for index, cell in enumerate(setup["cells"]):
        send(replies, {"running": index})
        result = shell.run_cell(cell, store_history=False, silent=True)
        error = result.error_before_exec or result.error_in_exec
        send(replies, {"ran": index, "error": None if error is None else _error_name(error)})
    send(replies, {"ready": True})
    while True:
        request = receive(requests)
        function = shell.user_ns.get(request.get("call"))
        if not callable(function):
            send(replies, {"ok": False, "error": f"{request.get('call')} is not defined"})
            continue
        try:
            args = decode(request["args"])
            kwargs = decode(request["kwargs"])
            result = function(*args, **kwargs)
            reply = {"ok": True, "result": encode(result),
                     "args": [encode(a) if isinstance(a, dict) else None for a in args]}
        except BaseException as err:  # noqa: BLE001 - any failure of student code is a failed call
            reply = {"ok": False, "error": _error_name(err)}
        send(replies, reply)


if __name__ == "__main__":
    main()
