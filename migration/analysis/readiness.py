"""Readiness to leave the monolith, 0 to 100, with the reasons; and the extraction order.

Every tie a module keeps to the others costs points: a violation must be fixed
before extraction; a synchronous call becomes a network call; an event becomes
a queue; frequent co-change means coordinated deployments. The least coupled
module goes first, as the migration strategy advises.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from migration.analysis.coupling import Coupling, ModuleCoupling

VIOLATION_COST, VIOLATION_CAP = 15, 45
CALL_COST, CALLED_BY_COST = 10, 8
CONSUMED_COST, CONSUMER_COST = 4, 2
COCHANGE_COST, COCHANGE_THRESHOLD, COCHANGE_MIN_COMMITS = 6, 0.3, 3
LARGE_MODULE_LINES, LARGE_MODULE_COST = 3000, 5


@dataclass
class Readiness:
    """A module's score and why it is not 100."""

    module: str
    score: int
    reasons: list[str] = field(default_factory=list)


def score_module(module: ModuleCoupling, coupling: Coupling) -> Readiness:
    """Start at 100 and take off points for each tie, naming it."""
    costs: list[tuple[int, str]] = []
    if module.violations:
        costs.append((min(VIOLATION_CAP, VIOLATION_COST * len(module.violations)),
                      f"{len(module.violations)} boundary violation(s) to fix first"))
    costs += [(CALL_COST, f"calls {other} synchronously") for other in sorted(module.calls)]
    costs += [(CALLED_BY_COST, f"called by {other}") for other in sorted(module.called_by)]
    costs += [(CONSUMED_COST, f"consumes {event}") for event in sorted(module.consumes)]
    consumers = _consumers(module, coupling)
    costs += [(CONSUMER_COST, f"{other} consumes its {event}") for event, other in consumers]
    costs += _cochange_costs(module, coupling)
    if module.lines > LARGE_MODULE_LINES:
        costs.append((LARGE_MODULE_COST, f"large: {module.lines} lines"))
    score = max(0, 100 - sum(cost for cost, _ in costs))
    reasons = [f"-{cost} {why}" for cost, why in costs] or ["no ties to other modules"]
    return Readiness(module.name, score, reasons)


def _consumers(module: ModuleCoupling, coupling: Coupling) -> list[tuple[str, str]]:
    return sorted((event, other.name) for other in coupling.modules.values()
                  for event, publisher in other.consumes.items() if publisher == module.name)


def _cochange_costs(module: ModuleCoupling, coupling: Coupling) -> list[tuple[int, str]]:
    history = coupling.cochange
    costs = []
    for other in sorted(coupling.modules):
        if other == module.name or history.together(module.name, other) < COCHANGE_MIN_COMMITS:
            continue  # a couple of shared commits is noise, not coupling
        ratio = history.ratio(module.name, other)
        if ratio >= COCHANGE_THRESHOLD:
            costs.append((COCHANGE_COST, f"changes with {other} in {ratio:.0%} of its commits"))
    return costs


def extraction_order(coupling: Coupling) -> list[Readiness]:
    """Every module's readiness, most ready (least coupled) first."""
    scores = [score_module(m, coupling) for m in coupling.modules.values()]
    return sorted(scores, key=lambda r: (-r.score, r.module))
