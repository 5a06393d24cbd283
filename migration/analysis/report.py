"""The analysis as data: what ``carve analyze --json`` prints (schema ``carve.analyze/1``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from migration.analysis.coupling import Coupling, ModuleCoupling, measure_coupling
from migration.analysis.picture import write_picture
from migration.analysis.readiness import Readiness, extraction_order

SCHEMA = "carve.analyze/1"


@dataclass
class Analysis:
    """Coupling per module and the extraction order."""

    coupling: Coupling
    order: list[Readiness]
    since: str | None

    def as_dict(self) -> dict[str, Any]:
        """The whole analysis as JSON-ready data."""
        return {
            "schema": SCHEMA,
            "root": str(self.coupling.findings.codebase.root),
            "order": [r.module for r in self.order],
            "history": {"available": self.coupling.cochange.available, "since": self.since},
            "modules": [self._module(r) for r in self.order],
        }

    def _module(self, readiness: Readiness) -> dict[str, Any]:
        module = self.coupling.modules[readiness.module]
        return {
            "name": module.name,
            "readiness": readiness.score,
            "reasons": readiness.reasons,
            "calls": sorted(module.calls),
            "called_by": sorted(module.called_by),
            "publishes": sorted(module.publishes),
            "consumes": [{"event": e, "publisher": p} for e, p in sorted(module.consumes.items())],
            "tables": module.tables,
            "violations": [v.as_dict() for v in module.violations],
            "cochange": self._cochange(module),
            "size": {"files": module.files, "lines": module.lines},
        }

    def _cochange(self, module: ModuleCoupling) -> dict[str, Any]:
        history = self.coupling.cochange
        return {
            "commits": history.commits[module.name],
            "with": {other: {"commits": history.together(module.name, other),
                             "ratio": round(history.ratio(module.name, other), 3)}
                     for other in sorted(self.coupling.modules)
                     if other != module.name and history.together(module.name, other)},
        }


def analyze(path: Path | None = None, since: str | None = None,
            picture: Path | None = None) -> Analysis:
    """Measure every module's coupling and rank the modules for extraction.

    With ``picture``, also draw the module graph there (its suffix picks the format).
    """
    coupling = measure_coupling(path, since)
    analysis = Analysis(coupling, extraction_order(coupling), since)
    if picture is not None:
        write_picture(picture, analysis.coupling, analysis.order)
    return analysis
