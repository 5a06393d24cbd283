"""Fakes that really behave: in-memory contracts and recording adapters."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

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
    """Users kept in a dict."""

    def __init__(self) -> None:
        self.users: dict[str, User] = {}

    def register_user(self, registration: NewUser) -> User:
        if any(u.email == registration.email.lower() for u in self.users.values()):
            raise EmailTaken(registration.email)
        user = User(id=uuid.uuid4().hex, email=registration.email.lower(), name=registration.name)
        self.users[user.id] = user
        return user

    def get_user(self, user_id: str) -> User:
        if user_id not in self.users:
            raise UserNotFound(user_id)
        return self.users[user_id]


class FakeInventory(Inventory):
    """Stock kept in a dict; counts availability checks."""

    def __init__(self, **stock: int) -> None:
        self.stock = dict(stock)
        self.checks: list[tuple[str, int]] = []

    def set_stock(self, sku: str, level: StockLevel) -> StockItem:
        self.stock[sku] = level.quantity
        return self.get_stock(sku)

    def get_stock(self, sku: str) -> StockItem:
        if sku not in self.stock:
            raise SkuNotFound(sku)
        return StockItem(sku=sku, on_hand=self.stock[sku], reserved=0, available=self.stock[sku])

    def check_availability(self, sku: str, quantity: int = 1) -> Availability:
        if quantity < 1:
            raise QuantityInvalid(str(quantity))
        self.checks.append((sku, quantity))
        available = self.get_stock(sku).available
        return Availability(sku=sku, requested=quantity, available=available,
                            in_stock=available >= quantity)


@dataclass
class RecordingSender:
    """A sender that keeps what it sent, and can fail its first ``failures`` sends."""

    failures: int = 0
    sent: list[tuple[str, str]] = field(default_factory=list)
    attempts: int = 0

    def send(self, recipient: str, subject: str, body: str) -> None:
        self.attempts += 1
        if self.attempts <= self.failures:
            raise ConnectionError(f"mail server down (attempt {self.attempts})")
        self.sent.append((recipient, subject))
