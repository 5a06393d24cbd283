"""The orders module's contract: the seed's createOrder flow."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from contracts.contract import Contract, operation
from contracts.errors import ContractError
from contracts.events import Event, EventValue
from contracts.inventory import MAX_QUANTITY


class OrderLine(BaseModel):
    """One SKU and how many of it."""

    model_config = ConfigDict(extra="forbid")

    sku: str = Field(min_length=1, max_length=64)
    quantity: int = Field(gt=0, le=MAX_QUANTITY)


class PlaceOrder(BaseModel):
    """A request to place an order for a user."""

    model_config = ConfigDict(extra="forbid")

    user_id: str = Field(min_length=1)
    items: list[OrderLine] = Field(min_length=1, max_length=100)


class Order(BaseModel):
    """A placed order; it keeps its own copy of the user's email."""

    id: str
    user_id: str
    user_email: str
    items: list[OrderLine]
    status: str
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


class Orders(Contract):
    """Places orders and reads them back."""

    name = "orders"
    version = 1

    @operation("POST", "", status_code=201)
    def place_order(self, command: PlaceOrder) -> Order:
        """Place an order: the user must exist and every line be in stock."""

    @operation("GET", "/{order_id}")
    def get_order(self, order_id: str) -> Order:
        """Read one order."""

    @operation("GET", "")
    def list_orders(self, user_id: str) -> list[Order]:
        """List a user's orders, newest first."""
