"""Named numbers of MAPI over HTTP, so that messages read ``ecLoginFailure (0x80040111)``.

Names are the specs' own: ROP ids [MS-OXCROPS] 2.2.1, X-ResponseCode values
[MS-OXCMAPIHTTP] 2.2.3.3.3, error codes [MS-OXCDATA] 2.4 and [MS-OXCRPC] 3.1.4,
property types [MS-OXCDATA] 2.11.1.
"""

from __future__ import annotations

import enum


class RopId(enum.IntEnum):
    """ROP identifiers, [MS-OXCROPS] 2.2.1."""

    RopRelease = 0x01
    RopOpenFolder = 0x02
    RopOpenMessage = 0x03
    RopGetHierarchyTable = 0x04
    RopGetContentsTable = 0x05
    RopGetPropertiesSpecific = 0x07
    RopGetPropertiesAll = 0x08
    RopGetPropertiesList = 0x09
    RopSetColumns = 0x12
    RopSortTable = 0x13
    RopRestrict = 0x14
    RopQueryRows = 0x15
    RopGetStatus = 0x16
    RopQueryPosition = 0x17
    RopSeekRow = 0x18
    RopNotify = 0x2A
    RopGetRulesTable = 0x3F
    RopGetNamesFromPropertyIds = 0x55
    RopGetPropertyIdsFromNames = 0x56
    RopPending = 0x6E
    RopBackoff = 0xF9
    RopLogon = 0xFE
    RopBufferTooSmall = 0xFF


class ResponseCode(enum.IntEnum):
    """X-ResponseCode header values, [MS-OXCMAPIHTTP] 2.2.3.3.3."""

    Success = 0
    UnknownFailure = 1
    InvalidVerb = 2
    InvalidPath = 3
    InvalidHeader = 4
    InvalidRequestType = 5
    InvalidContextCookie = 6
    MissingHeader = 7
    AnonymousNotAllowed = 8
    TooLarge = 9
    ContextNotFound = 10
    NoPrivilege = 11
    InvalidRequestBody = 12
    MissingCookie = 13
    Reserved = 14
    InvalidSequence = 15
    EndpointDisabled = 16
    InvalidResponse = 17
    EndpointShuttingDown = 18


_RESPONSE_CODE_TEXT = {
    ResponseCode.Success: "Success",
    ResponseCode.UnknownFailure: "Unknown Failure",
    ResponseCode.InvalidVerb: "Invalid Verb",
    ResponseCode.InvalidPath: "Invalid Path",
    ResponseCode.InvalidHeader: "Invalid Header",
    ResponseCode.InvalidRequestType: "Invalid Request Type",
    ResponseCode.InvalidContextCookie: "Invalid Context Cookie",
    ResponseCode.MissingHeader: "Missing Header",
    ResponseCode.AnonymousNotAllowed: "Anonymous Not Allowed",
    ResponseCode.TooLarge: "Too Large",
    ResponseCode.ContextNotFound: "Context Not Found",
    ResponseCode.NoPrivilege: "No Privilege",
    ResponseCode.InvalidRequestBody: "Invalid Request Body",
    ResponseCode.MissingCookie: "Missing Cookie",
    ResponseCode.Reserved: "Reserved",
    ResponseCode.InvalidSequence: "Invalid Sequence",
    ResponseCode.EndpointDisabled: "Endpoint Disabled",
    ResponseCode.InvalidResponse: "Invalid Response",
    ResponseCode.EndpointShuttingDown: "Endpoint Shutting Down",
}


class ErrorCode(enum.IntEnum):
    """MAPI / EMSMDB error codes, [MS-OXCDATA] 2.4 and [MS-OXCRPC] 3.1.4."""

    Success = 0x00000000
    ecUnknownUser = 0x000003EB
    ecLoginPerm = 0x000003F2
    ecWrongServer = 0x00000478
    ecServerBusy = 0x00000480
    ecRpcFormat = 0x000004B6
    ecNullObject = 0x000004B9
    ecRpcAuthentication = 0x000004BC
    ecClientVerDisallowed = 0x000004DF
    ecRpcHttpDisallowed = 0x000004E0
    ecCachedModeRequired = 0x000004E1
    ecMailboxInTransit = 0x0000050C
    ecProtocolDisabled = 0x000007D8
    ecMailboxDisabled = 0x0000096C
    ecNotEncrypted = 0x00000970
    ecWarnWithErrors = 0x00040380
    ecError = 0x80004005
    ecNotSupported = 0x80040102
    ecNotFound = 0x8004010F
    ecVersionMismatch = 0x80040110
    ecLoginFailure = 0x80040111
    ecRpcFailed = 0x80040115
    ecTooComplex = 0x80040117
    ecAccessDenied = 0x80070005
    ecMAPIOOM = 0x8007000E
    ecInvalidParam = 0x80070057


class PropertyType(enum.IntEnum):
    """Property value types, [MS-OXCDATA] 2.11.1 (the low 16 bits of a property tag)."""

    PtypUnspecified = 0x0000
    PtypNull = 0x0001
    PtypInteger16 = 0x0002
    PtypInteger32 = 0x0003
    PtypFloating32 = 0x0004
    PtypFloating64 = 0x0005
    PtypCurrency = 0x0006
    PtypFloatingTime = 0x0007
    PtypErrorCode = 0x000A
    PtypBoolean = 0x000B
    PtypInteger64 = 0x0014
    PtypString8 = 0x001E
    PtypString = 0x001F
    PtypTime = 0x0040
    PtypGuid = 0x0048
    PtypServerId = 0x00FB
    PtypRestriction = 0x00FD
    PtypRuleAction = 0x00FE
    PtypBinary = 0x0102
    PtypMultipleInteger16 = 0x1002
    PtypMultipleInteger32 = 0x1003
    PtypMultipleFloating32 = 0x1004
    PtypMultipleFloating64 = 0x1005
    PtypMultipleCurrency = 0x1006
    PtypMultipleFloatingTime = 0x1007
    PtypMultipleInteger64 = 0x1014
    PtypMultipleString8 = 0x101E
    PtypMultipleString = 0x101F
    PtypMultipleTime = 0x1040
    PtypMultipleGuid = 0x1048
    PtypMultipleBinary = 0x1102


# Tags the probe and the emulator use, [MS-OXPROPS]; only for readable output.
PROPERTY_TAG_NAMES = {
    0x0037001F: "PidTagSubject",
    0x0E060040: "PidTagMessageDeliveryTime",
    0x0C1A001F: "PidTagSenderName",
    0x0E080003: "PidTagMessageSize",
    0x0E070003: "PidTagMessageFlags",
    0x001A001F: "PidTagMessageClass",
    0x674A0014: "PidTagMid",
    0x67480014: "PidTagFolderId",
    0x674D0014: "PidTagInstID",
    0x674E0003: "PidTagInstanceNum",
    0x36020003: "PidTagContentCount",
    0x36030003: "PidTagContentUnreadCount",
}


def describe_rop(rop_id: int) -> str:
    """``RopLogon (0xFE)``, or ``ROP 0x42`` for an id this codec does not name."""
    try:
        return f"{RopId(rop_id).name} (0x{rop_id:02X})"
    except ValueError:
        return f"ROP 0x{rop_id:02X}"


def describe_response_code(code: int) -> str:
    """``10 (Context Not Found)`` for an X-ResponseCode value."""
    try:
        return f"{code} ({_RESPONSE_CODE_TEXT[ResponseCode(code)]})"
    except ValueError:
        return f"{code} (not defined by MS-OXCMAPIHTTP)"


def describe_error(code: int) -> str:
    """``ecLoginFailure (0x80040111)``, or the bare hex value for an unnamed code."""
    try:
        return f"{ErrorCode(code).name} (0x{code:08X})"
    except ValueError:
        return f"0x{code:08X}"


def describe_property_type(ptype: int) -> str:
    try:
        return PropertyType(ptype).name
    except ValueError:
        return f"0x{ptype:04X}"


def describe_property_tag(tag: int) -> str:
    """``PidTagSubject (0x0037001F)`` or ``0x80C7001E``."""
    name = PROPERTY_TAG_NAMES.get(tag)
    return f"{name} (0x{tag:08X})" if name else f"0x{tag:08X}"
