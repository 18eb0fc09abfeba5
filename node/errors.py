"""Errors raised by the node's domain code.

Domain code raises these; it never knows HTTP. One place
(:mod:`node.error_responses`) turns them into the single JSON error shape.

    NodeError                       root of every node error
    ├── ValidationFailed            bad input; ``fields`` maps a field path to the reason
    ├── Unauthenticated             no or bad credentials
    ├── Forbidden                   credentials lack the needed scope or role
    ├── NotFound                    the named record does not exist here
    ├── Conflict                    duplicate key, stale version, illegal state change
    │   └── ReadOnlyRecord          another state's record: only its origin may change it
    ├── PayloadTooLarge             body over the configured limit
    ├── DataDirError                data directory missing, already initialised, unsafe
    └── AuditChainBroken            the audit log does not verify
"""

from __future__ import annotations


class NodeError(Exception):
    """Root of every error the node raises on purpose."""

    code = "node_error"

    def __init__(self, message: str, *, fields: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.fields = dict(fields or {})


class ValidationFailed(NodeError):
    code = "validation_failed"


class Unauthenticated(NodeError):
    code = "unauthenticated"


class Forbidden(NodeError):
    code = "forbidden"


class NotFound(NodeError):
    code = "not_found"


class Conflict(NodeError):
    code = "conflict"


class ReadOnlyRecord(Conflict):
    code = "read_only_record"


class PayloadTooLarge(NodeError):
    code = "payload_too_large"


class DataDirError(NodeError):
    code = "data_dir_error"


class AuditChainBroken(NodeError):
    code = "audit_chain_broken"
