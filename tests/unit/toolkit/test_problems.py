"""Every error of an HTTP binding is a problem body, unexpected ones too."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from migration.runtime.problems import install_problem_handlers


def test_an_unexpected_error_is_a_500_problem_that_reveals_nothing_internal() -> None:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/boom")
    def boom() -> None:
        raise OverflowError("Python int too large to convert to SQLite INTEGER")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/boom")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "server.error"
    assert "SQLite" not in body["detail"]


def test_an_unknown_path_is_a_404_problem() -> None:
    app = FastAPI()
    install_problem_handlers(app)
    with TestClient(app) as client:
        response = client.get("/nowhere")
    assert (response.status_code, response.json()["code"]) == (404, "http.not_found")
