"""``carve export compose|k8s``: write the plan's deployment files, or check them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from migration.deploy.compose import compose_text
from migration.deploy.dashboards import DASHBOARD_DIR, dashboard_files
from migration.deploy.plan import SystemPlan, read_plan
from migration.runtime.errors import ConfigError
from migration.runtime.project import Project

COMPOSE_FILE = "docker-compose.yml"


@dataclass(frozen=True)
class Written:
    """What an export wrote (or, with ``check``, found different)."""

    files: list[Path]
    changed: list[Path]


def load_plan(config: Path | None, extracted: Path | None = None) -> SystemPlan:
    """The plan at ``config`` (``./carve.toml`` by default)."""
    project = Project.load(config)
    try:
        return read_plan(project, extracted)
    finally:
        project.close()


def compose_files(plan: SystemPlan, output: Path | None) -> dict[Path, str]:
    """docker-compose.yml and the Grafana dashboards it mounts, by path."""
    target = output or plan.folder / COMPOSE_FILE
    files = {target: compose_text(plan)}
    for name, text in dashboard_files(plan).items():
        files[target.parent / DASHBOARD_DIR / name] = text
    return files


def write_files(files: dict[Path, str], check: bool = False) -> Written:
    """Write every file whose text differs; with ``check``, only report them."""
    changed = [path for path, text in files.items() if _read(path) != text]
    if not check:
        for path in changed:
            _write(path, files[path])
    return Written(list(files), changed)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc


def _write(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write: {exc.strerror or exc}") from exc
