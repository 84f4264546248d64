"""Sans-IO codec of MAPI over HTTP: bytes <-> frozen dataclasses, nothing else.

Imports only the standard library and :mod:`check_mapi.errors` (a test enforces it).
Decoding raises only :class:`~check_mapi.errors.DecodeError`.

The names in ``__all__`` are the public surface, the server side included (Reader/Writer,
request decoding, row writing): :mod:`check_mapi.emulator` imports nothing else.
"""

from __future__ import annotations

from ..errors import DecodeError
from ._buffer import Reader, Writer, code_page_codec
from .bodies import (
    EXECUTE_FLAG_CHAIN,
    EXECUTE_FLAG_NO_COMPRESSION,
    EXECUTE_FLAG_NO_XOR_MAGIC,
    MAX_ROP_OUT,
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
    Cell,
    PropertyError,
    PropertyMissing,
    PropertyRow,
    PropertyValue,
    Value,
    datetime_to_filetime,
    filetime_to_datetime,
    write_row,
)
from .rop_props import (
    KIND_NONE,
    MNID_ID,
    MNID_STRING,
    PS_MAPI,
    PropertyName,
    RopGetNamesFromPropertyIdsResponse,
    RopGetPropertiesAllResponse,
    RopGetPropertiesListResponse,
    RopGetPropertiesSpecificResponse,
    RopOpenMessageResponse,
    TypedString,
)
from .rop_requests import (
    LOGON_FLAG_PRIVATE,
    OPEN_FLAG_USE_PER_MDB_REPLID_MAPPING,
    SORT_ASCENDING,
    SORT_DESCENDING,
    TABLE_FLAG_USE_UNICODE,
    RopGetContentsTableRequest,
    RopGetHierarchyTableRequest,
    RopGetNamesFromPropertyIdsRequest,
    RopGetPropertiesAllRequest,
    RopGetPropertiesListRequest,
    RopGetPropertiesSpecificRequest,
    RopGetRulesTableRequest,
    RopLogonRequest,
    RopOpenFolderRequest,
    RopOpenMessageRequest,
    RopQueryRowsRequest,
    RopReleaseRequest,
    RopRequest,
    RopSetColumnsRequest,
    RopSortTableRequest,
    RopUnknownRequest,
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
    RopGetHierarchyTableResponse,
    RopGetRulesTableResponse,
    RopLogonRedirectResponse,
    RopLogonResponse,
    RopOpenFolderResponse,
    RopQueryRowsResponse,
    RopResponse,
    RopSetColumnsResponse,
    RopSortTableResponse,
)
from .ropbuffer import RopBuffer, decode_request_rop_buffer
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
    "KIND_NONE", "LOGON_FLAG_PRIVATE", "MAX_ROP_OUT", "MNID_ID", "MNID_STRING",
    "OPEN_FLAG_USE_PER_MDB_REPLID_MAPPING", "PS_MAPI", "SORT_ASCENDING", "SORT_DESCENDING",
    "TABLE_FLAG_USE_UNICODE", "Cell", "ConnectRequest", "ConnectResponse", "DecodeError",
    "DisconnectRequest", "DisconnectResponse", "ErrorCode", "ExecuteRequest",
    "ExecuteResponse", "FailureResponse", "HeadersEvent", "LogonTime", "MetaTag",
    "MetaTagEvent", "PropertyError", "PropertyMissing", "PropertyName", "PropertyRow",
    "PropertyType", "PropertyValue", "Reader", "ResponseCode", "ResponseStream",
    "ResponseStreamParser", "RopBackoffResponse", "RopBuffer", "RopBufferTooSmallResponse",
    "RopContext", "RopErrorResponse", "RopGetContentsTableRequest",
    "RopGetContentsTableResponse", "RopGetHierarchyTableRequest",
    "RopGetHierarchyTableResponse", "RopGetNamesFromPropertyIdsRequest",
    "RopGetNamesFromPropertyIdsResponse", "RopGetPropertiesAllRequest",
    "RopGetPropertiesAllResponse", "RopGetPropertiesListRequest",
    "RopGetPropertiesListResponse", "RopGetPropertiesSpecificRequest",
    "RopGetPropertiesSpecificResponse", "RopGetRulesTableRequest", "RopGetRulesTableResponse",
    "RopId", "RopLogonRedirectResponse", "RopLogonRequest", "RopLogonResponse",
    "RopOpenFolderRequest", "RopOpenFolderResponse", "RopOpenMessageRequest",
    "RopOpenMessageResponse", "RopQueryRowsRequest", "RopQueryRowsResponse",
    "RopReleaseRequest", "RopRequest", "RopResponse", "RopSetColumnsRequest",
    "RopSetColumnsResponse", "RopSortTableRequest", "RopSortTableResponse",
    "RopUnknownRequest", "SortOrder", "TypedString", "Value", "Writer", "code_page_codec",
    "datetime_to_filetime", "decode_request_rop_buffer", "describe_error",
    "describe_property_tag", "describe_response_code", "describe_rop", "filetime_to_datetime",
    "parse_response_stream", "write_row",
]
