"""``CARVE_LOG_FORMAT=json``: every line a process writes is a JSON object, and a request's
lines carry its request id and its trace id."""

from __future__ import annotations

import json

import httpx

from tests.support.processes import carve_process, free_port

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"


def test_the_monolith_logs_json_lines_with_request_and_trace_ids(postgres_url: str) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {"CARVE_LOG_FORMAT": "json", "DATABASE_URL": postgres_url}
    with carve_process(["run", "monolith", "--port", str(port)], env=env,
                       ready_url=f"{url}/readyz") as process:
        given = httpx.get(f"{url}/api/v1/users/nobody", headers={
            "x-request-id": "req-42", "traceparent": f"00-{TRACE_ID}-b7ad6b7169203331-01"})
        made = httpx.get(f"{url}/api/v1/users/nobody")
    assert given.headers["x-request-id"] == "req-42"
    assert process.stdout is not None
    lines = [json.loads(line) for line in process.stdout.read().decode().splitlines() if line]
    assert {line["logger"] for line in lines} >= {"carve", "uvicorn.error", "uvicorn.access"}
    access = [line for line in lines if line["logger"] == "uvicorn.access"
              and "/api/v1/users/nobody" in line["message"]]
    assert [(a["request_id"], a["trace_id"]) for a in access][0] == ("req-42", TRACE_ID)
    assert access[1]["request_id"] == made.headers["x-request-id"]
    assert access[1]["trace_id"] not in (None, TRACE_ID)  # a trace of its own
