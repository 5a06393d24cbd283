"""carve analyze on a codebase with known coupling: ties, scores, order, co-change, pictures."""

from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from migration.analysis.cochange import UnknownDate
from migration.analysis.picture import UnsupportedPicture, write_picture
from migration.analysis.report import analyze

FIXTURES = Path(__file__).parents[2] / "fixtures"
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def coupled(tmp_path: Path) -> Path:
    """The coupled shop, outside any git repository."""
    return Path(shutil.copytree(FIXTURES / "coupled", tmp_path / "coupled"))


def test_the_least_coupled_module_comes_first(coupled: Path) -> None:
    analysis = analyze(coupled)
    assert [r.module for r in analysis.order] == ["shipping", "orders", "customers", "billing"]
    scores = {r.module: r.score for r in analysis.order}
    assert scores == {"shipping": 96, "orders": 86, "customers": 84, "billing": 71}


def test_calls_events_tables_and_violations_are_attributed(coupled: Path) -> None:
    modules = {m["name"]: m for m in analyze(coupled).as_dict()["modules"]}
    assert modules["customers"]["called_by"] == ["billing", "orders"]
    assert modules["billing"]["calls"] == ["customers"]
    # shipping imports the orders contract for its event only: not a call.
    assert modules["shipping"]["calls"] == []
    assert modules["orders"]["publishes"] == ["order.placed"]
    assert modules["shipping"]["consumes"] == [{"event": "order.placed", "publisher": "orders"}]
    assert modules["orders"]["tables"] == ["orders_orders"]
    assert [v["rule"] for v in modules["billing"]["violations"]] == ["data.raw-sql"]
    assert any("boundary violation" in reason for reason in modules["billing"]["reasons"])


def commit(repo: Path, *files: str) -> None:
    for name in files:
        path = repo / name
        path.write_text(path.read_text() + "\n# changed\n")
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com",
                    "commit", "-qm", "change"], check=True)


def test_modules_that_change_together_lose_readiness(coupled: Path) -> None:
    subprocess.run(["git", "init", "-q", str(coupled)], check=True)
    commit(coupled, "carve.toml")  # the first commit adds every module's files
    for _ in range(3):
        commit(coupled, "shop_coupled/modules/shipping/handlers.py",
               "shop_coupled/modules/customers/models.py")
    analysis = analyze(coupled, since="2000-01-01")
    shipping = next(m for m in analysis.as_dict()["modules"] if m["name"] == "shipping")
    assert shipping["cochange"] == {"commits": 4, "with": {
        "billing": {"commits": 1, "ratio": 0.25},
        "customers": {"commits": 4, "ratio": 1.0},
        "orders": {"commits": 1, "ratio": 0.25},
    }}
    # One shared commit is noise; four of four is coupling.
    assert [r for r in shipping["reasons"] if "changes with" in r] == [
        "-6 changes with customers in 100% of its commits"
    ]


def test_since_is_a_calendar_date_or_an_age_never_text_git_would_read_as_now(
    coupled: Path,
) -> None:
    for text in ("notadate", "2024-02-30", "last tuesday"):
        with pytest.raises(UnknownDate, match="expected a date YYYY-MM-DD or 'N days"):
            analyze(coupled, since=text)
    subprocess.run(["git", "init", "-q", str(coupled)], check=True)
    commit(coupled, "carve.toml")
    assert analyze(coupled, since="2 weeks ago").coupling.cochange.commits["shipping"] == 1


def test_the_svg_shows_modules_calls_events_and_violations(coupled: Path, tmp_path: Path) -> None:
    analysis = analyze(coupled)
    picture = write_picture(tmp_path / "modules.svg", analysis.coupling, analysis.order)
    root = ElementTree.parse(picture).getroot()
    texts = {t.text for t in root.iter(f"{SVG}text")}
    assert {"shipping", "orders", "customers", "billing", "order.placed", "calls"} <= texts
    paths = [p.attrib for p in root.iter(f"{SVG}path") if "marker-end" in p.attrib]
    assert any("stroke-dasharray" in p for p in paths)  # events are dashed
    assert any(p.get("stroke") == "#dc2626" for p in paths)  # the violation is red


def test_mermaid_and_dot_by_extension_and_other_types_refused(
    coupled: Path, tmp_path: Path
) -> None:
    analysis = analyze(coupled)
    mermaid = write_picture(tmp_path / "m.mmd", analysis.coupling, analysis.order).read_text()
    assert "orders -->|calls| customers" in mermaid and "-.->|order.placed| shipping" in mermaid
    dot = write_picture(tmp_path / "m.dot", analysis.coupling, analysis.order).read_text()
    assert '"billing" -> "orders" [label="violation", style=bold, color=red];' in dot
    with pytest.raises(UnsupportedPicture):
        write_picture(tmp_path / "m.png", analysis.coupling, analysis.order)
