"""The users module's contract: who may place orders."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from contracts.contract import Contract, operation
from contracts.errors import ContractError

#: RFC 5321's limit on a forward path: the longest address mail can be sent to.
MAX_EMAIL_LENGTH = 254
#: A user id: 1 to 64 letters, digits, "_" or "-" (carve issues 32 hex digits).
UserId = Annotated[str, StringConstraints(min_length=1, max_length=64,
                                          pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class NewUser(BaseModel):
    """What it takes to register a user."""

    model_config = ConfigDict(extra="forbid")

    email: Annotated[EmailStr, Field(max_length=MAX_EMAIL_LENGTH)]
    name: Annotated[str, StringConstraints(min_length=1, max_length=200,
                                           pattern=r"^[^\x00-\x1f\x7f]+$")]


class User(BaseModel):
    """A registered user."""

    id: str
    email: str
    name: str


class UserNotFound(ContractError):
    """No user has this id."""

    status_code = 404
    code = "user.not_found"
    title = "User not found"


class EmailTaken(ContractError):
    """Another user already registered this email."""

    status_code = 409
    code = "user.email_taken"
    title = "Email already registered"


class Users(Contract):
    """Registers users and looks them up."""

    name = "users"
    version = 1

    @operation("POST", "", status_code=201)
    def register_user(self, registration: NewUser) -> User:
        """Register a user; the email must be unique."""

    @operation("GET", "/{user_id}")
    def get_user(self, user_id: UserId) -> User:
        """Look up one user by id."""
