"""The orders module's contract: the seed's createOrder flow."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from contracts.contract import Contract, operation
from contracts.errors import ContractError
from contracts.events import Event, EventValue
from contracts.inventory import Sku, StockShortage
from contracts.users import UserId

#: The most units of one SKU an order line may ask for. With at most MAX_LINES lines the
#: units of an order (lines of one SKU are added up) stay far below a 32-bit integer.
MAX_LINE_QUANTITY = 10_000
#: The most lines one order may have.
MAX_LINES = 50

#: An order id: 1 to 64 letters, digits, "_" or "-" (carve issues 32 hex digits).
OrderId = Annotated[str, StringConstraints(min_length=1, max_length=64,
                                           pattern=r"^[A-Za-z0-9_-]{1,64}$")]

OrderStatus = Literal["pending", "confirmed", "rejected"]


class OrderLine(BaseModel):
    """One SKU and how many of it."""

    model_config = ConfigDict(extra="forbid")

    sku: Sku
    quantity: int = Field(ge=1, le=MAX_LINE_QUANTITY, strict=True)  # nor is "2" or true


class PlaceOrder(BaseModel):
    """A request to place an order for a user."""

    model_config = ConfigDict(extra="forbid")

    user_id: UserId
    items: list[OrderLine] = Field(min_length=1, max_length=MAX_LINES)


class OrderItem(BaseModel):
    """One SKU of a placed order and how many of it (its lines of that SKU added up)."""

    sku: str
    quantity: int


class Order(BaseModel):
    """An order; it keeps its own copy of the user's email.

    ``pending`` when placed, then ``confirmed`` once inventory reserved every line, or
    ``rejected`` (with the ``reason``) when it could not.
    """

    id: str
    user_id: str
    user_email: str
    items: list[OrderItem]
    status: OrderStatus
    reason: str | None = None
    created_at: datetime


class OrderNotFound(ContractError):
    """No order has this id."""

    status_code = 404
    code = "order.not_found"
    title = "Order not found"


class OrderedItem(EventValue):
    """One line of an order as events carry it."""

    sku: str
    quantity: int


class OrderCreated(Event):
    """An order was placed: stock must be reserved and the user told."""

    type = "order.created"

    order_id: str
    user_id: str
    user_email: str
    items: tuple[OrderedItem, ...]


class OrderConfirmed(Event):
    """Inventory holds every line of the order: the user is told it is confirmed."""

    type = "order.confirmed"

    order_id: str
    user_id: str
    user_email: str
    items: tuple[OrderedItem, ...]


class OrderRejected(Event):
    """Inventory could not cover the order; nothing was reserved and the user is told why."""

    type = "order.rejected"

    order_id: str
    user_id: str
    user_email: str
    reason: str
    shortages: tuple[StockShortage, ...]


class Orders(Contract):
    """Places orders and reads them back."""

    name = "orders"
    version = 1

    @operation("POST", "", status_code=201)
    def place_order(self, command: PlaceOrder) -> Order:
        """Place an order, ``pending`` until inventory reserves it (or cannot).

        The user must exist and every line look in stock now; the reservation that follows
        decides between ``confirmed`` and ``rejected``.
        """

    @operation("GET", "/{order_id}")
    def get_order(self, order_id: OrderId) -> Order:
        """Read one order."""

    @operation("GET", "")
    def list_orders(self, user_id: UserId) -> list[Order]:
        """List a user's orders, newest first."""
