"""The inventory module's contract: stock per SKU."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from contracts.contract import Contract, operation
from contracts.errors import ContractError
from contracts.events import Event, EventValue

# Quantities are stored as 32-bit integers by every supported database.
MAX_QUANTITY = 2**31 - 1

#: A SKU: 1 to 64 characters, none of them a control character (NUL and line breaks
#: included), "/" (the one character a URL path segment cannot carry) or U+FFFD (what a
#: server decodes a broken UTF-8 sequence in a URL to).
Sku = Annotated[str, StringConstraints(min_length=1, max_length=64,
                                       pattern=r"^[^\x00-\x1f\x7f/\ufffd]{1,64}$")]


class StockLevel(BaseModel):
    """The quantity on hand to set for a SKU."""

    model_config = ConfigDict(extra="forbid")

    quantity: int = Field(ge=0, le=MAX_QUANTITY, strict=True)  # true is no quantity


class StockItem(BaseModel):
    """A SKU's stock: on hand, reserved by orders, and what is left to sell."""

    sku: str
    on_hand: int
    reserved: int
    available: int


class Availability(BaseModel):
    """Whether a quantity of a SKU can be sold now."""

    sku: str
    requested: int
    available: int
    in_stock: bool


class SkuNotFound(ContractError):
    """The SKU was never stocked."""

    status_code = 404
    code = "inventory.sku_not_found"
    title = "SKU not found"


class QuantityInvalid(ContractError):
    """A quantity that is zero or negative where a positive one is needed."""

    status_code = 422
    code = "inventory.quantity_invalid"
    title = "Quantity must be positive"


class InsufficientInventory(ContractError):
    """Not enough stock to sell the quantity asked for."""

    status_code = 409
    code = "inventory.insufficient"
    title = "Insufficient inventory"


class ReservedLine(EventValue):
    """One line of an order whose units are now held for it."""

    sku: str
    quantity: int


class StockShortage(EventValue):
    """A line of an order that the stock could not cover."""

    sku: str
    requested: int
    available: int


class StockReserved(Event):
    """Every line of an order is reserved: the order can be confirmed."""

    type = "stock.reserved"

    order_id: str
    items: tuple[ReservedLine, ...]


class StockReservationFailed(Event):
    """Some line of an order could not be covered, so nothing of it was reserved."""

    type = "stock.reservation_failed"

    order_id: str
    shortages: tuple[StockShortage, ...]


class Inventory(Contract):
    """Keeps stock levels and answers availability questions."""

    name = "inventory"
    version = 1

    @operation("PUT", "/stock/{sku}")
    def set_stock(self, sku: Sku, level: StockLevel) -> StockItem:
        """Set the quantity on hand of a SKU (creating the SKU if new)."""

    @operation("GET", "/availability/{sku}")
    def check_availability(
        self, sku: Sku, quantity: Annotated[int, Field(ge=1, le=MAX_QUANTITY)] = 1
    ) -> Availability:
        """Tell whether ``quantity`` units of a SKU are available."""

    @operation("GET", "/stock/{sku}")
    def get_stock(self, sku: Sku) -> StockItem:
        """Read a SKU's stock: on hand, reserved and available."""
