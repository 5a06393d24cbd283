"""The gateway's command-line settings: each mistake is one clear message."""

import pytest

from migration.gateway.gateway_settings import parse_services
from migration.runtime.errors import ConfigError


def test_services_are_read_as_name_equals_url():
    assert parse_services(["inventory=http://127.0.0.1:8001", "my_svc-2=http://h:1"]) == {
        "inventory": "http://127.0.0.1:8001", "my_svc-2": "http://h:1"}


@pytest.mark.parametrize(("pairs", "says"), [
    (["inventory"], "expected NAME=URL"),
    (["monolith=http://h:1"], "use --monolith"),
    (["in ventory=http://h:1"], "a service name is letters"),
    (["inv\r\nx-evil: 1=http://h:1"], "a service name is letters"),
    (["-inventory=http://h:1"], "a service name is letters"),
    (["inventory=http://a:1", "inventory=http://b:1"], "given twice"),
])
def test_a_bad_service_flag_is_refused_with_a_reason(pairs, says):
    with pytest.raises(ConfigError, match=says):
        parse_services(pairs)
