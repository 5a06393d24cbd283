"""In-memory fakes of the contracts a module uses: its collaborators in contract tests.

They behave like the real modules at the contract (same errors, same shapes), so
a module's contract tests can arrange data through them wherever the module runs:
in the monolith or as an extracted service. Only ``contracts`` is imported here,
so the file can be copied as is next to an extracted service's tests.
"""

from __future__ import annotations

import uuid

from contracts.contract import Contract
from contracts.inventory import (
    Availability,
    Inventory,
    QuantityInvalid,
    SkuNotFound,
    StockItem,
    StockLevel,
)
from contracts.users import EmailTaken, NewUser, User, UserNotFound, Users


class FakeUsers(Users):
    """Users kept in a dict; emails unique regardless of case."""

    def __init__(self) -> None:
        self.users: dict[str, User] = {}

    def register_user(self, registration: NewUser) -> User:
        email = registration.email.lower()
        if any(user.email == email for user in self.users.values()):
            raise EmailTaken(f"a user with email '{email}' already exists")
        user = User(id=uuid.uuid4().hex, email=email, name=registration.name)
        self.users[user.id] = user
        return user

    def get_user(self, user_id: str) -> User:
        if user_id not in self.users:
            raise UserNotFound(f"no user with id '{user_id}'")
        return self.users[user_id]


class FakeInventory(Inventory):
    """Stock levels kept in a dict; nothing is ever reserved."""

    def __init__(self) -> None:
        self.on_hand: dict[str, int] = {}

    def set_stock(self, sku: str, level: StockLevel) -> StockItem:
        self.on_hand[sku] = level.quantity
        return self.get_stock(sku)

    def get_stock(self, sku: str) -> StockItem:
        if sku not in self.on_hand:
            raise SkuNotFound(f"SKU '{sku}' is not stocked")
        quantity = self.on_hand[sku]
        return StockItem(sku=sku, on_hand=quantity, reserved=0, available=quantity)

    def check_availability(self, sku: str, quantity: int = 1) -> Availability:
        if quantity < 1:
            raise QuantityInvalid(f"quantity must be at least 1, got {quantity}")
        available = self.get_stock(sku).available
        return Availability(sku=sku, requested=quantity, available=available,
                            in_stock=available >= quantity)


FAKES: dict[type[Contract], type[Contract]] = {Users: FakeUsers, Inventory: FakeInventory}
