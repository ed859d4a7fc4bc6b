"""Regenerate the protobuf modules under ``logd/v1/`` from ``proto/logd/v1/*.proto``.

``make proto`` runs this. The generated modules are committed so that running logd needs no
protoc; ``tests/test_protogen.py`` regenerates into a temporary directory and fails when the
committed files are stale. The sources live in ``proto/`` but the modules land under
``logd/``: a top-level package named ``proto`` would clash with Google's proto-plus.
"""

from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["PROTO_ROOT", "generate", "main", "proto_sources"]

REPO_ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = REPO_ROOT / "proto"


def proto_sources(proto_root: Path = PROTO_ROOT) -> list[Path]:
    return sorted((proto_root / "logd" / "v1").glob("*.proto"))


def generate(out_dir: Path, proto_root: Path = PROTO_ROOT) -> list[Path]:
    """Run protoc (from grpcio-tools) into ``out_dir``; returns the files it wrote."""
    import grpc_tools
    from grpc_tools import protoc

    include = Path(grpc_tools.__file__).parent / "_proto"
    sources = proto_sources(proto_root)
    args = [
        "grpc_tools.protoc",
        f"-I{proto_root}",
        f"-I{include}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *(str(s.relative_to(proto_root)) for s in sources),
    ]
    if protoc.main(args) != 0:
        raise RuntimeError("protoc failed: " + " ".join(args))
    return sorted((out_dir / "logd" / "v1").glob("*_pb2*.py*"))


def main() -> int:
    written = generate(REPO_ROOT)
    for path in written:
        print(path.relative_to(REPO_ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
