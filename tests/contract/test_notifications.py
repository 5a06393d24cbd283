"""Contract tests of notifications, written once and run against every binding."""

from __future__ import annotations

from contracts.notifications import Notifications

CONTRACT = Notifications


def test_a_user_who_ordered_nothing_was_sent_nothing(binding: Notifications) -> None:
    assert binding.list_notifications("user-without-orders") == []
