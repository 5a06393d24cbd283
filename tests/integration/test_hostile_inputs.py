"""Bad input the schema fuzzer does not send: broken encodings, absurd numbers, deep nesting.

Each is refused with a 4xx problem body and writes nothing; none is a 500.
"""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from tests.builders import monolith_client

JSON = {"content-type": "application/json"}
ORDER = b'{"user_id": "u", "items": [{"sku": "A", "quantity": %s}]}'


@pytest.mark.parametrize(("method", "path", "body", "status"), [
    # JSON with a lone surrogate (valid JSON, no valid text) as a value and as a key.
    ("POST", "/api/v1/users", b'{"email": "a@b.io", "name": "x\\ud800"}', 422),
    ("POST", "/api/v1/users", b'{"email": "a@b.io", "name": "x", "\\ud800": 1}', 422),
    # Bytes that are not UTF-8, and a NUL, which PostgreSQL cannot store in text.
    ("POST", "/api/v1/users", b'{"email": "a@b.io", "name": "\xff\xfe"}', 400),
    ("POST", "/api/v1/users", b'{"email": "a@b.io", "name": "x\\u0000y"}', 422),
    ("POST", "/api/v1/users", b'{"email": "a\\u0000@b.io", "name": "x"}', 422),
    # An address longer than mail can be sent to (RFC 5321: 254).
    ("POST", "/api/v1/users", b'{"email": "%s@b.io", "name": "x"}' % (b"a" * 250), 422),
    # Nesting a hundred thousand deep: a parser error, not a crash.
    ("POST", "/api/v1/users", b"[" * 100_000 + b"]" * 100_000, 400),
    # Numbers no quantity is: overflow, NaN, a float, a boolean, 5,000 digits.
    ("POST", "/api/v1/orders", ORDER % b"1e400", 422),
    ("POST", "/api/v1/orders", ORDER % b"NaN", 422),
    ("POST", "/api/v1/orders", ORDER % b"1.5", 422),
    ("POST", "/api/v1/orders", ORDER % b"true", 422),
    ("POST", "/api/v1/orders", ORDER % (b"9" * 5000), 400),
    # Broken percent-encoding in a path or a query: a NUL, a surrogate, a lone byte.
    ("PUT", "/api/v1/inventory/stock/%00", b'{"quantity": 1}', 422),
    ("PUT", "/api/v1/inventory/stock/%ED%A0%80", b'{"quantity": 1}', 422),
    ("PUT", "/api/v1/inventory/stock/A%FF", b'{"quantity": 1}', 422),
    ("PUT", "/api/v1/inventory/stock/A", b'{"quantity": true}', 422),
    ("GET", "/api/v1/orders?user_id=%ED%A0%80", b"", 422),
    ("GET", "/api/v1/orders/%FF%FE", b"", 422),
])
def test_hostile_input_is_a_4xx_problem_and_writes_nothing(
    postgres_url: str, method: str, path: str, body: bytes, status: int
) -> None:
    with monolith_client(postgres_url) as client:
        answer = client.request(method, path, content=body, headers=JSON)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["status"] == status
    engine = create_engine(postgres_url)
    try:
        with engine.connect() as connection:
            written = connection.execute(text(
                "SELECT (SELECT count(*) FROM users_users) + (SELECT count(*) FROM orders_orders)"
                " + (SELECT count(*) FROM inventory_stock)")).scalar_one()
    finally:
        engine.dispose()
    assert written == 0
