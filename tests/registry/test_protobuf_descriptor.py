"""Protobuf schemas as descriptors (``logd.registry.protobuf_descriptor``/``protobuf_text``):
the descriptor built from ``.proto`` text is the one ``protoc --descriptor_set_out`` writes for
the same file, and a descriptor written back as text parses to the same descriptor again."""

from __future__ import annotations

from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2 as pb
from grpc_tools import protoc

from logd.registry.errors import InvalidSchemaError
from logd.registry.model import Reference
from logd.registry.parsed import Dependency
from logd.registry.protobuf_descriptor import (
    decode_descriptor,
    encode_descriptor,
    file_descriptor,
)
from logd.registry.protobuf_schema import parse_protobuf
from logd.registry.protobuf_text import proto_text

PROTO3 = """
syntax = "proto3";
package shop.v1;
import "google/protobuf/timestamp.proto";
import "google/protobuf/struct.proto";
option java_package = "com.example.shop";
option optimize_for = SPEED;

message Order {
  reserved 7, 9 to 11, 40 to max;
  reserved "legacy", "old";
  int64 id = 1;
  optional string note = 2 [deprecated = true];
  repeated Line lines = 3;
  map<string, Line> by_sku = 4;
  oneof payment { string card = 5; Voucher voucher = 6; }
  Status status = 8;
  google.protobuf.Timestamp placed_at = 12;
  google.protobuf.NullValue nothing = 13;
  string renamed = 14 [json_name = "other"];
  repeated int32 packed_ints = 15 [packed = false];
  message Line { string sku = 1; uint32 qty = 2; Order.Status state = 3; }
  message Voucher { bytes code = 1; }
  enum Status { option allow_alias = true; UNKNOWN = 0; NEW = 1; FRESH = 1; reserved 5 to max; }
}
enum Region { REGION_UNSPECIFIED = 0; EU = 1 [deprecated = true]; }
service Shop {
  rpc Place (Order) returns (Order);
  rpc Watch (stream .shop.v1.Order) returns (stream Order) { option deprecated = true; }
}
"""

PROTO2 = """
syntax = "proto2";
package legacy;
message Item {
  required string name = 1;
  optional int32 count = 2 [default = 7];
  optional double ratio = 3 [default = 1.5];
  optional string label = 4 [default = "a \\"b\\""];
  optional Kind kind = 5 [default = BIG];
  optional bool on = 6 [default = true];
  repeated group Part = 7 { optional string id = 1; }
  extensions 100 to 199, 1000 to max;
  enum Kind { SMALL = 0; BIG = 1; }
}
extend Item { optional int32 weight = 100; }
"""


def _protoc(tmp_path: Path, files: dict[str, str], name: str) -> pb.FileDescriptorProto:
    for path, text in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    include = Path(protoc.__file__).parent / "_proto"
    out = tmp_path / "set.pb"
    argv = ["protoc", f"-I{tmp_path}", f"-I{include}", f"--descriptor_set_out={out}", name]
    assert protoc.main(argv) == 0
    descriptors = pb.FileDescriptorSet()
    descriptors.ParseFromString(out.read_bytes())
    return next(f for f in descriptors.file if f.name == name)


@pytest.mark.parametrize("text", [PROTO3, PROTO2], ids=["proto3", "proto2"])
def test_the_descriptor_is_protocs(tmp_path: Path, text: str) -> None:
    schema = parse_protobuf(text)
    ours = file_descriptor(schema.file, "shop.proto", schema.descriptors.kinds)
    assert ours == _protoc(tmp_path, {"shop.proto": text}, "shop.proto")


@pytest.mark.parametrize("text", [PROTO3, PROTO2], ids=["proto3", "proto2"])
def test_a_descriptor_written_as_text_parses_to_the_same_descriptor(
    tmp_path: Path, text: str
) -> None:
    given = _protoc(tmp_path, {"shop.proto": text}, "shop.proto")
    written = proto_text(given)
    schema = parse_protobuf(written)
    assert file_descriptor(schema.file, "shop.proto", schema.descriptors.kinds) == given
    # The text compiles with protoc too, to the same descriptor.
    assert _protoc(tmp_path / "again", {"shop.proto": written}, "shop.proto") == given


def test_imports_of_references_resolve_to_their_full_names(tmp_path: Path) -> None:
    common = 'syntax = "proto3";\npackage common;\nmessage Money { int64 units = 1; }\n'
    main = (
        'syntax = "proto3";\npackage shop;\nimport public "common/money.proto";\n'
        "message Price { common.Money amount = 1; }\n"
    )
    dep = Dependency(Reference("common/money.proto", "money", 1), parse_protobuf(common))
    schema = parse_protobuf(main, [dep.reference], [dep])
    ours = file_descriptor(schema.file, "price.proto", schema.descriptors.kinds)
    files = {"common/money.proto": common, "price.proto": main}
    assert ours == _protoc(tmp_path, files, "price.proto")
    assert ours.message_type[0].field[0].type_name == ".common.Money"


def test_base64_round_trip_and_what_is_not_a_descriptor() -> None:
    schema = parse_protobuf(PROTO3)
    descriptor = file_descriptor(schema.file, "x.proto", schema.descriptors.kinds)
    assert decode_descriptor(encode_descriptor(descriptor)) == descriptor
    assert decode_descriptor(PROTO3) is None  # .proto text
    assert decode_descriptor("") is None
    with pytest.raises(InvalidSchemaError, match="not a descriptor"):
        decode_descriptor("AAAA")  # base64 of bytes no descriptor is made of


def test_editions_have_no_descriptor() -> None:
    with pytest.raises(InvalidSchemaError):
        schema = parse_protobuf('edition = "2023";\nmessage M { int32 a = 1; }\n')
        file_descriptor(schema.file, "m.proto", schema.descriptors.kinds)
