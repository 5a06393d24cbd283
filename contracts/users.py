"""The users module's contract: who may place orders."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from contracts.contract import Contract, operation
from contracts.errors import ContractError


class NewUser(BaseModel):
    """What it takes to register a user."""

    model_config = ConfigDict(extra="forbid")

    email: EmailStr
    name: str = Field(min_length=1, max_length=200)


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
    def get_user(self, user_id: str) -> User:
        """Look up one user by id."""
