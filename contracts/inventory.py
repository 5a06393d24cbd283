"""The inventory module's contract: stock per SKU."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from contracts.contract import Contract, operation
from contracts.errors import ContractError

# Quantities are stored as 32-bit integers by every supported database.
MAX_QUANTITY = 2**31 - 1


class StockLevel(BaseModel):
    """The quantity on hand to set for a SKU."""

    model_config = ConfigDict(extra="forbid")

    quantity: int = Field(ge=0, le=MAX_QUANTITY)


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


class Inventory(Contract):
    """Keeps stock levels and answers availability questions."""

    name = "inventory"
    version = 1

    @operation("PUT", "/stock/{sku}")
    def set_stock(self, sku: str, level: StockLevel) -> StockItem:
        """Set the quantity on hand of a SKU (creating the SKU if new)."""

    @operation("GET", "/availability/{sku}")
    def check_availability(self, sku: str, quantity: int = 1) -> Availability:
        """Tell whether ``quantity`` units of a SKU are available."""

    @operation("GET", "/stock/{sku}")
    def get_stock(self, sku: str) -> StockItem:
        """Read a SKU's stock: on hand, reserved and available."""
