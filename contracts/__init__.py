"""The only language modules share: contracts, their shapes, errors and events.

This package depends on pydantic alone.
"""

from contracts.contract import Contract, OperationSpec, Parameter, operation
from contracts.errors import ContractError, RequestInvalid, ServiceUnavailable
from contracts.events import Event, EventValue

__all__ = [
    "Contract",
    "ContractError",
    "Event",
    "EventValue",
    "OperationSpec",
    "Parameter",
    "RequestInvalid",
    "ServiceUnavailable",
    "operation",
]
