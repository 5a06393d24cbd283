"""Contract tests of users, written once and run against every binding."""

from __future__ import annotations

import pytest

from contracts.users import EmailTaken, NewUser, UserNotFound, Users

CONTRACT = Users


def test_a_registered_user_can_be_looked_up(binding: Users) -> None:
    user = binding.register_user(NewUser(email="Ada@Example.com", name="Ada"))
    assert (user.email, user.name) == ("ada@example.com", "Ada")
    assert binding.get_user(user.id) == user


def test_an_email_registers_once_regardless_of_case(binding: Users) -> None:
    binding.register_user(NewUser(email="grace@example.com", name="Grace"))
    with pytest.raises(EmailTaken) as caught:
        binding.register_user(NewUser(email="GRACE@example.com", name="Grace H"))
    assert "grace@example.com" in caught.value.detail


def test_an_unknown_user_is_not_found(binding: Users) -> None:
    with pytest.raises(UserNotFound):
        binding.get_user("no-such-user")
