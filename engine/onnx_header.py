"""The inputs and outputs an ONNX file declares, read from its protobuf without onnx or ONNX Runtime.

Loading a model bundle checks its graphs against the manifest. ONNX Runtime sessions would
cost seconds and gigabytes for a large model; the declarations are a few small fields, and
everything else (nodes, weights) is stepped over by its length without being read. The walk
also proves the structure is complete: a truncated file ends inside a field.

Protobuf wire format: each field is a varint key (number << 3 | wire type) followed by a
varint (type 0), 8 bytes (1), a varint length and that many bytes (2) or 4 bytes (5).
Field numbers (onnx.proto): ModelProto graph 7, opset_import 8; GraphProto initializer 5,
input 11, output 12; ValueInfoProto name 1, type 2; TypeProto tensor_type 1; its elem_type 1,
shape 2; TensorShapeProto dim 1; Dimension dim_value 1, dim_param 2; TensorProto name 8.
"""

from __future__ import annotations

import mmap
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

# TensorProto.DataType -> ONNX Runtime's name of the type (its "tensor(NAME)")
DTYPES = {1: "float", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64", 8: "string",
          9: "bool", 10: "float16", 11: "double", 12: "uint32", 13: "uint64", 16: "bfloat16"}


@dataclass(frozen=True)
class TensorInfo:
    """One declared input or output (or an actual array: ``dtype`` None, ``dims`` its shape)."""

    name: str
    dtype: str | None  # "float", "int64", ...; None: not declared
    dims: tuple[int | str | None, ...] | None  # an int per fixed axis, a name or None per free one; None: no shape


def read_graph_io(path: str | Path) -> tuple[list[TensorInfo], list[TensorInfo]]:
    """The graph's (inputs, outputs) as an ONNX Runtime session lists them (initializers are
    not inputs). Raises ``ValueError`` if the file is not a complete ONNX model, ``OSError``
    if it cannot be read."""
    with open(path, "rb") as f:
        if os.fstat(f.fileno()).st_size == 0:
            raise ValueError("the file is empty")
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            return _graph_io(buf)


def _graph_io(buf: mmap.mmap) -> tuple[list[TensorInfo], list[TensorInfo]]:
    graph, opset = None, False
    for num, wire, a, b in _fields(buf, 0, len(buf)):
        if num == 7 and wire == 2:
            graph = (a, b)
        opset = opset or num == 8
    if graph is None or not opset:
        raise ValueError("it declares no graph or no operator set")
    inputs, outputs, initializers = [], [], set()
    for num, wire, a, b in _fields(buf, *graph):
        if wire == 2 and num in (11, 12):
            (inputs if num == 11 else outputs).append(_value_info(buf, a, b))
        elif wire == 2 and num == 5:
            initializers.add(_text(buf, a, b, 8))
    return [t for t in inputs if t.name not in initializers], outputs


def _varint(buf: mmap.mmap, pos: int, end: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= end:
            raise ValueError("it ends in the middle of a field (truncated?)")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise ValueError("it holds a malformed number")


def _fields(buf: mmap.mmap, pos: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """(number, wire type, a, b) of each field in buf[pos:end]: a varint's value in ``a``,
    else the span [a, b) of its bytes."""
    while pos < end:
        key, pos = _varint(buf, pos, end)
        num, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos, end)
            start, stop = value, pos
        elif wire in (1, 2, 5):
            if wire == 2:
                n, pos = _varint(buf, pos, end)
            else:
                n = 8 if wire == 1 else 4
            start, stop, pos = pos, pos + n, pos + n
            if stop > end:
                raise ValueError("it ends in the middle of a field (truncated?)")
        else:
            raise ValueError(f"it holds a field of unknown wire type {wire}")
        if num == 0:
            raise ValueError("it holds a field numbered 0")
        yield num, wire, start, stop


def _text(buf: mmap.mmap, a: int, b: int, field: int) -> str:
    for num, wire, x, y in _fields(buf, a, b):
        if num == field and wire == 2:
            return bytes(buf[x:y]).decode("utf-8", "replace")
    return ""


def _value_info(buf: mmap.mmap, a: int, b: int) -> TensorInfo:
    dtype, dims = None, None
    for num, wire, x, y in _fields(buf, a, b):
        if num == 2 and wire == 2:
            for tnum, twire, tx, ty in _fields(buf, x, y):
                if tnum == 1 and twire == 2:  # a tensor type
                    dtype, dims = _tensor_type(buf, tx, ty)
    return TensorInfo(_text(buf, a, b, 1), dtype, dims)


def _tensor_type(buf: mmap.mmap, a: int, b: int) -> tuple[str | None, tuple[int | str | None, ...] | None]:
    dtype, dims = None, None
    for num, wire, x, y in _fields(buf, a, b):
        if num == 1 and wire == 0:
            dtype = DTYPES.get(x, f"type {x}")
        elif num == 2 and wire == 2:
            dims = tuple(_dim(buf, dx, dy) for dnum, dwire, dx, dy in _fields(buf, x, y) if dnum == 1 and dwire == 2)
    return dtype, dims


def _dim(buf: mmap.mmap, a: int, b: int) -> int | str | None:
    for num, wire, x, y in _fields(buf, a, b):
        if num == 1 and wire == 0:
            return x - (1 << 64) if x >= 1 << 63 else x  # int64 in two's complement
        if num == 2 and wire == 2:
            return bytes(buf[x:y]).decode("utf-8", "replace")
    return None
