"""Sans-IO codec of MAPI over HTTP: bytes <-> frozen dataclasses, nothing else.

Imports only the standard library and :mod:`check_mapi.errors` (a test enforces it).
Decoding raises only :class:`~check_mapi.errors.DecodeError`.
"""

from __future__ import annotations

from ..errors import DecodeError
from .bodies import (
    EXECUTE_FLAG_CHAIN,
    EXECUTE_FLAG_NO_COMPRESSION,
    EXECUTE_FLAG_NO_XOR_MAGIC,
    ConnectRequest,
    ConnectResponse,
    DisconnectRequest,
    DisconnectResponse,
    ExecuteRequest,
    ExecuteResponse,
    FailureResponse,
)
from .codes import (
    ErrorCode,
    PropertyType,
    ResponseCode,
    RopId,
    describe_error,
    describe_property_tag,
    describe_response_code,
    describe_rop,
)
from .props import (
    PropertyError,
    PropertyMissing,
    PropertyRow,
    PropertyValue,
    datetime_to_filetime,
    filetime_to_datetime,
)
from .rop_requests import (
    LOGON_FLAG_PRIVATE,
    OPEN_FLAG_USE_PER_MDB_REPLID_MAPPING,
    SORT_ASCENDING,
    SORT_DESCENDING,
    TABLE_FLAG_USE_UNICODE,
    RopGetContentsTableRequest,
    RopLogonRequest,
    RopOpenFolderRequest,
    RopQueryRowsRequest,
    RopReleaseRequest,
    RopRequest,
    RopSetColumnsRequest,
    RopSortTableRequest,
    SortOrder,
)
from .rop_responses import (
    INBOX,
    LogonTime,
    RopBackoffResponse,
    RopBufferTooSmallResponse,
    RopContext,
    RopErrorResponse,
    RopGetContentsTableResponse,
    RopLogonRedirectResponse,
    RopLogonResponse,
    RopOpenFolderResponse,
    RopQueryRowsResponse,
    RopResponse,
    RopSetColumnsResponse,
    RopSortTableResponse,
)
from .ropbuffer import RopBuffer
from .stream import (
    HeadersEvent,
    MetaTag,
    MetaTagEvent,
    ResponseStream,
    ResponseStreamParser,
    parse_response_stream,
)

__all__ = [
    "EXECUTE_FLAG_CHAIN", "EXECUTE_FLAG_NO_COMPRESSION", "EXECUTE_FLAG_NO_XOR_MAGIC", "INBOX",
    "LOGON_FLAG_PRIVATE", "OPEN_FLAG_USE_PER_MDB_REPLID_MAPPING", "SORT_ASCENDING",
    "SORT_DESCENDING", "TABLE_FLAG_USE_UNICODE", "ConnectRequest", "ConnectResponse",
    "DecodeError", "DisconnectRequest", "DisconnectResponse", "ErrorCode", "ExecuteRequest",
    "ExecuteResponse", "FailureResponse", "HeadersEvent", "LogonTime", "MetaTag",
    "MetaTagEvent", "PropertyError", "PropertyMissing", "PropertyRow", "PropertyType",
    "PropertyValue", "ResponseCode", "ResponseStream", "ResponseStreamParser",
    "RopBackoffResponse", "RopBuffer", "RopBufferTooSmallResponse", "RopContext",
    "RopErrorResponse", "RopGetContentsTableRequest", "RopGetContentsTableResponse", "RopId",
    "RopLogonRedirectResponse", "RopLogonRequest", "RopLogonResponse", "RopOpenFolderRequest",
    "RopOpenFolderResponse", "RopQueryRowsRequest", "RopQueryRowsResponse",
    "RopReleaseRequest", "RopRequest", "RopResponse", "RopSetColumnsRequest",
    "RopSetColumnsResponse", "RopSortTableRequest", "RopSortTableResponse", "SortOrder",
    "datetime_to_filetime", "describe_error", "describe_property_tag",
    "describe_response_code", "describe_rop", "filetime_to_datetime",
    "parse_response_stream",
]
