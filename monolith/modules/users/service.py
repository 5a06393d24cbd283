"""Use cases of the users module."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from contracts.users import EmailTaken, NewUser, User, UserNotFound, Users
from migration.runtime.unit_of_work import UnitOfWork
from monolith.modules.users.tables import users


class UsersService(Users):
    """Registers users; emails are unique regardless of case."""

    def __init__(self, unit_of_work: Callable[[], UnitOfWork]) -> None:
        self._uow = unit_of_work

    def register_user(self, registration: NewUser) -> User:
        email = registration.email.lower()
        user = User(id=uuid.uuid4().hex, email=email, name=registration.name)
        with self._uow() as uow:
            taken = uow.session.execute(
                select(users.c.id).where(func.lower(users.c.email) == email)
            ).first()
            if taken:
                raise EmailTaken(f"a user with email '{email}' already exists")
            uow.session.execute(insert(users).values(**user.model_dump(),
                                                     created_at=datetime.now(UTC)))
            try:
                uow.commit()
            except IntegrityError:
                raise EmailTaken(f"a user with email '{email}' already exists") from None
        return user

    def get_user(self, user_id: str) -> User:
        with self._uow() as uow:
            row = uow.session.execute(
                select(users.c.id, users.c.email, users.c.name).where(users.c.id == user_id)
            ).first()
        if row is None:
            raise UserNotFound(f"no user with id '{user_id}'")
        return User.model_validate(dict(row._mapping))
