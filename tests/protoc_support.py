"""A message class compiled by protoc from ``.proto`` sources, as a user's ``_pb2`` would be
(for confluent-kafka's Protobuf serializers in tests). grpc_tools' bundled protoc and its
well-known ``.proto`` files; nothing of logd's own descriptor code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from grpc_tools import protoc

__all__ = ["compiled_class"]


def compiled_class(directory: Path, files: dict[str, str], root: str, message: str) -> Any:
    """``message`` (a full name) of ``root`` compiled with ``files`` (import path -> text)."""
    for name, text in files.items():
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_text(text)
    include = Path(protoc.__file__).parent / "_proto"
    out = directory / "set.pb"
    argv = ["protoc", f"-I{directory}", f"-I{include}", "--include_imports",
            f"--descriptor_set_out={out}", root]  # fmt: skip
    assert protoc.main(argv) == 0
    pool = descriptor_pool.DescriptorPool()
    for file in descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file:
        pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(message))
