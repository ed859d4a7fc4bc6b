from logd.v1 import broker_pb2 as _broker_pb2
from logd.v1 import group_pb2 as _group_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ForwardedCaller(_message.Message):
    __slots__ = ("principal", "client_id", "listener", "address")
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    LISTENER_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    principal: str
    client_id: str
    listener: str
    address: str
    def __init__(self, principal: _Optional[str] = ..., client_id: _Optional[str] = ..., listener: _Optional[str] = ..., address: _Optional[str] = ...) -> None: ...

class ForwardedProduce(_message.Message):
    __slots__ = ("caller", "request")
    CALLER_FIELD_NUMBER: _ClassVar[int]
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    caller: ForwardedCaller
    request: _broker_pb2.ProduceRequest
    def __init__(self, caller: _Optional[_Union[ForwardedCaller, _Mapping]] = ..., request: _Optional[_Union[_broker_pb2.ProduceRequest, _Mapping]] = ...) -> None: ...

class ForwardedFetch(_message.Message):
    __slots__ = ("caller", "request")
    CALLER_FIELD_NUMBER: _ClassVar[int]
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    caller: ForwardedCaller
    request: _broker_pb2.FetchRequest
    def __init__(self, caller: _Optional[_Union[ForwardedCaller, _Mapping]] = ..., request: _Optional[_Union[_broker_pb2.FetchRequest, _Mapping]] = ...) -> None: ...

class ForwardedListOffsets(_message.Message):
    __slots__ = ("caller", "request")
    CALLER_FIELD_NUMBER: _ClassVar[int]
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    caller: ForwardedCaller
    request: _broker_pb2.ListOffsetsRequest
    def __init__(self, caller: _Optional[_Union[ForwardedCaller, _Mapping]] = ..., request: _Optional[_Union[_broker_pb2.ListOffsetsRequest, _Mapping]] = ...) -> None: ...

class ForwardedOffsetCommit(_message.Message):
    __slots__ = ("caller", "request")
    CALLER_FIELD_NUMBER: _ClassVar[int]
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    caller: ForwardedCaller
    request: _group_pb2.OffsetCommitRequest
    def __init__(self, caller: _Optional[_Union[ForwardedCaller, _Mapping]] = ..., request: _Optional[_Union[_group_pb2.OffsetCommitRequest, _Mapping]] = ...) -> None: ...

class ForwardedOffsetFetch(_message.Message):
    __slots__ = ("caller", "request")
    CALLER_FIELD_NUMBER: _ClassVar[int]
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    caller: ForwardedCaller
    request: _group_pb2.OffsetFetchRequest
    def __init__(self, caller: _Optional[_Union[ForwardedCaller, _Mapping]] = ..., request: _Optional[_Union[_group_pb2.OffsetFetchRequest, _Mapping]] = ...) -> None: ...
