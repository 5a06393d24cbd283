"""The module graph as a picture: SVG drawn here, or Mermaid or DOT text.

Modules are nodes (with their readiness); synchronous calls are solid arrows,
events dashed, boundary violations red. The SVG needs no Graphviz binary.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape
from pathlib import Path

from migration.analysis.coupling import Coupling
from migration.analysis.readiness import Readiness
from migration.runtime.errors import CarveError, cannot_write

NODE_W, NODE_H, MARGIN = 170, 54, 110
STYLES = {
    "call": ('stroke="#334155" stroke-width="2"', "#334155"),
    "event": ('stroke="#2563eb" stroke-width="2" stroke-dasharray="7 5"', "#2563eb"),
    "violation": ('stroke="#dc2626" stroke-width="2.5"', "#dc2626"),
}


class UnsupportedPicture(CarveError):
    """``--graph`` names a file type carve cannot draw."""


@dataclass(frozen=True)
class Edge:
    """One arrow: a call, an event or a violation from one module to another."""

    source: str
    target: str
    kind: str
    label: str


def edges_of(coupling: Coupling) -> list[Edge]:
    """Every arrow of the picture, in a stable order."""
    edges: list[Edge] = []
    for module in coupling.modules.values():
        edges += [Edge(module.name, callee, "call", "calls") for callee in sorted(module.calls)]
        edges += [Edge(publisher, module.name, "event", event)
                  for event, publisher in sorted(module.consumes.items()) if publisher]
        edges += [Edge(module.name, other, "violation", "violation")
                  for other in sorted(module.violation_targets)]
    return sorted(edges, key=lambda e: (e.source, e.target, e.kind, e.label))


def write_picture(path: Path, coupling: Coupling, order: list[Readiness]) -> Path:
    """Write the picture in the format the file extension asks for."""
    renderers = {".svg": render_svg, ".mmd": render_mermaid, ".mermaid": render_mermaid,
                 ".dot": render_dot, ".gv": render_dot}
    render = renderers.get(path.suffix.lower())
    if render is None:
        raise UnsupportedPicture(f"{path}: use .svg, .mmd/.mermaid or .dot/.gv")
    try:
        path.write_text(render(coupling, order), encoding="utf-8")
    except OSError as exc:
        raise cannot_write(path, exc) from exc
    return path


def render_mermaid(coupling: Coupling, order: list[Readiness]) -> str:
    """A Mermaid flowchart."""
    lines = ["flowchart LR"]
    lines += [f'    {r.module}["{r.module}<br/>readiness {r.score}"]' for r in order]
    arrows = {"call": "-->", "event": "-.->", "violation": "==>"}
    edges = edges_of(coupling)
    lines += [f"    {e.source} {arrows[e.kind]}|{e.label}| {e.target}" for e in edges]
    lines += [f"    linkStyle {i} stroke:#dc2626,stroke-width:3px"
              for i, e in enumerate(edges) if e.kind == "violation"]
    return "\n".join(lines) + "\n"


def render_dot(coupling: Coupling, order: list[Readiness]) -> str:
    """A Graphviz digraph."""
    styles = {"call": "solid", "event": "dashed", "violation": "bold"}
    lines = ["digraph modules {", "  rankdir=LR;", '  node [shape=box, style=rounded];']
    lines += [f'  "{r.module}" [label="{r.module}\\nreadiness {r.score}"];' for r in order]
    for e in edges_of(coupling):
        color = "red" if e.kind == "violation" else "black"
        lines.append(f'  "{e.source}" -> "{e.target}" [label="{e.label}", '
                     f'style={styles[e.kind]}, color={color}];')
    return "\n".join([*lines, "}"]) + "\n"


def render_svg(coupling: Coupling, order: list[Readiness]) -> str:
    """Modules on a circle, arrows between them, a legend below."""
    positions = _circle([r.module for r in order])
    width = int(max((x for x, _ in positions.values()), default=0) + NODE_W / 2 + MARGIN)
    height = int(max((y for _, y in positions.values()), default=0) + NODE_H / 2 + MARGIN + 40)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="13">',
             "<defs>", *[_marker(kind, color) for kind, (_, color) in STYLES.items()], "</defs>",
             f'<rect width="{width}" height="{height}" fill="white"/>']
    parts += _svg_edges(edges_of(coupling), positions)
    parts += [_svg_node(r, *positions[r.module]) for r in order]
    parts += _legend(height - 30)
    return "\n".join([*parts, "</svg>"]) + "\n"


def _circle(names: list[str]) -> dict[str, tuple[float, float]]:
    radius = max(150.0, len(names) * (NODE_W + 20) / (2 * math.pi))
    center = radius + NODE_W / 2 + MARGIN / 2
    return {name: (center + radius * math.cos(2 * math.pi * i / len(names) - math.pi / 2),
                   center + radius * math.sin(2 * math.pi * i / len(names) - math.pi / 2) * 0.8)
            for i, name in enumerate(names)}


def _marker(kind: str, color: str) -> str:
    return (f'<marker id="arrow-{kind}" viewBox="0 0 10 10" refX="10" refY="5" '
            f'markerWidth="8" markerHeight="8" orient="auto-start-reverse">'
            f'<path d="M 0 0 L 10 5 L 0 10 z" fill="{color}"/></marker>')


def _svg_node(readiness: Readiness, x: float, y: float) -> str:
    fill = "#dcfce7" if readiness.score >= 75 else "#fef9c3" if readiness.score >= 50 else "#fee2e2"
    return (f'<g><rect x="{x - NODE_W / 2:.1f}" y="{y - NODE_H / 2:.1f}" width="{NODE_W}" '
            f'height="{NODE_H}" rx="10" fill="{fill}" stroke="#0f172a"/>'
            f'<text x="{x:.1f}" y="{y - 4:.1f}" text-anchor="middle" font-weight="bold">'
            f'{escape(readiness.module)}</text>'
            f'<text x="{x:.1f}" y="{y + 14:.1f}" text-anchor="middle">readiness '
            f'{readiness.score}</text></g>')


def _svg_edges(edges: list[Edge], positions: dict[str, tuple[float, float]]) -> list[str]:
    drawn: list[str] = []
    seen: dict[frozenset[str], int] = {}
    for edge in edges:
        pair = frozenset((edge.source, edge.target))
        count = seen.get(pair, 0)
        seen[pair] = count + 1
        # Arrows between the same two modules curve to alternate sides, so none overlap.
        side = (1 if count % 2 == 0 else -1) * (1 if edge.source < edge.target else -1)
        bend = 45 * (1 + count // 2) * side
        drawn.append(_svg_edge(edge, positions[edge.source], positions[edge.target], bend))
    return drawn


def _svg_edge(edge: Edge, start: tuple[float, float], end: tuple[float, float],
              bend: float) -> str:
    (x1, y1), (x2, y2) = _clip(start, end), _clip(end, start)
    length = math.hypot(x2 - x1, y2 - y1) or 1.0
    cx = (x1 + x2) / 2 - bend * (y2 - y1) / length
    cy = (y1 + y2) / 2 + bend * (x2 - x1) / length
    style, color = STYLES[edge.kind]
    # The label sits on the curve's midpoint (a quadratic Bezier's control point is off it).
    mx, my = (x1 + 2 * cx + x2) / 4, (y1 + 2 * cy + y2) / 4
    return (f'<g><path d="M {x1:.1f} {y1:.1f} Q {cx:.1f} {cy:.1f} {x2:.1f} {y2:.1f}" '
            f'fill="none" {style} marker-end="url(#arrow-{edge.kind})"/>'
            f'<text x="{mx:.1f}" y="{my - 4:.1f}" text-anchor="middle" fill="{color}" '
            f'font-size="11" stroke="white" stroke-width="3" paint-order="stroke">'
            f'{escape(edge.label)}</text></g>')


def _clip(point: tuple[float, float], toward: tuple[float, float]) -> tuple[float, float]:
    """Where the line from a node's center toward another leaves the node's box."""
    (x, y), (tx, ty) = point, toward
    dx, dy = tx - x, ty - y
    scale = min((NODE_W / 2 + 6) / abs(dx) if dx else math.inf,
                (NODE_H / 2 + 6) / abs(dy) if dy else math.inf)
    return (x + dx * scale, y + dy * scale) if scale != math.inf else (x, y)


def _legend(y: float) -> list[str]:
    items = [("call", "synchronous call"), ("event", "event"), ("violation", "violation")]
    parts = []
    for i, (kind, text) in enumerate(items):
        x = 20 + i * 190
        style, _ = STYLES[kind]
        parts.append(f'<line x1="{x}" y1="{y}" x2="{x + 40}" y2="{y}" {style} '
                     f'marker-end="url(#arrow-{kind})"/>'
                     f'<text x="{x + 50}" y="{y + 4}">{text}</text>')
    return parts
