"""A checking run on two cores: grimp's graph here, everything else in a forked process.

grimp's scan holds the GIL (a thread beside it gained nothing, measured at 20,000 files),
so a run that checks forks: the child takes the cache's key, scans the modules' and the
shared packages' files, checks data and events and reads the modules' third-party
imports (:mod:`.external_imports`: grimp's graph is then built without external
packages, a third cheaper), while this process builds grimp's graph and checks the
imports; the child sends its findings and the module list back through a pipe. Each
process imports what it needs after the fork, so grimp's import overlaps the scans'.
Where there is no ``fork`` (or other threads run, which a fork does not copy safely),
:func:`check_forked` returns None and the run checks in one process.

The key is no longer taken before grimp reads the files, so a file changed while both
read could leave findings keyed by content they were not computed from. Any change to a
file sets its ``ctime`` to the kernel's clock (``os.utime`` too: a checkout's new
modification times are no change of content but do set it), so once grimp has read
everything the child checks that no file it hashed changed since just before the run
began, and the findings are cached only then; otherwise the next run checks again.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from migration.boundaries.lint_cache import CACHE_FOLDER, LintCache, open_cache
from migration.boundaries.lint_config import CONFIG_FILE
from migration.boundaries.model import Violation

if TYPE_CHECKING:
    from migration.boundaries.codebase import Codebase

# The kernel stamps ctime with a clock that ticks every few milliseconds (a jiffy): a
# change just after the run began may carry a ctime up to one tick before it.
_CLOCK_SLACK_NS = 20_000_000


def check_forked(codebase: Codebase, cache: bool) -> tuple[list[str], list[Violation]] | None:
    """Check the codebase on two cores and cache the findings; None if it cannot fork.

    Each process imports only what it runs, after the fork: grimp here while the child
    imports the scans.
    """
    if not hasattr(os, "fork") or threading.active_count() > 1:
        return None
    from migration.boundaries.codebase import source_on_path
    from migration.boundaries.import_rules import scans_externals

    began = time.time_ns() - _CLOCK_SLACK_NS
    source_on_path(codebase)
    graph_folder = _graph_folder(codebase) if cache else None
    scanning = scans_externals(codebase)  # the child reads third-party imports, not grimp
    results_out, results_in = os.pipe()
    go_out, go_in = os.pipe()
    child = os.fork()
    if child == 0:  # the child: never returns, never flushes the parent's buffers
        code = 1
        try:
            os.close(results_out)
            os.close(go_in)
            _child(codebase, cache, scanning, began, results_in, go_out)
            code = 0
        finally:
            os._exit(code)
    os.close(results_in)
    os.close(go_out)
    try:
        with os.fdopen(results_out, "rb") as results:
            checked = _parent(codebase, graph_folder, scanning, results, go_in)
    finally:
        os.waitpid(child, 0)
    if checked is None:
        return None
    store, names, violations, unchanged = checked
    if isinstance(store, LintCache) and unchanged:
        store.write(names, violations)
    return names, violations


def _child(codebase: Codebase, cache: bool, scanning: bool, began: int, results_in: int,
           go_out: int) -> None:
    """The forked process: key the cache, scan the files, check data and events, send them.

    Then, once grimp has read every file, whether any file it hashed changed since ``began``.
    """
    from migration.boundaries.codebase import ModuleInfo, discover_modules
    from migration.boundaries.data_rules import check_data
    from migration.boundaries.event_rules import check_events, read_catalog
    from migration.boundaries.import_rules import scan_externals

    with os.fdopen(results_in, "wb") as results:
        store = open_cache(codebase) if cache else None
        hashed = [*codebase.read] if store else []
        discover_modules(codebase)
        external = scan_externals(codebase) if scanning else None
        catalog = read_catalog(codebase)
        codebase.read.clear()
        found = [*check_data(codebase), *check_events(codebase, catalog)]
        modules = [ModuleInfo(m.name, m.package, m.path, tables=m.tables)
                   for m in codebase.modules.values()]
        pickle.dump((store, modules, found, external), results)
        results.flush()
        os.read(go_out, 1)  # grimp has read every file
        unchanged = _unchanged_since(began, [*hashed, *map(os.path.dirname, hashed),
                                             str(codebase.root / CONFIG_FILE)])
        results.write(b"1" if unchanged else b"0")


def _parent(codebase: Codebase, graph_folder: Path | None, scanning: bool,
            results: BinaryIO, go_in: int,
            ) -> tuple[object, list[str], list[Violation], bool] | None:
    """This process: grimp's graph and the import rules, then the child's findings.

    The cache's store, the module names, every violation (sorted) and whether the tree was
    unchanged; None if the child failed (the run then checks in one process).
    """
    from migration.boundaries.import_checks import rules_and_violations
    from migration.boundaries.import_rules import build_graph

    try:
        graph = build_graph(codebase, graph_folder, external=False if scanning else None)
    finally:
        with contextlib.suppress(OSError):  # a child gone: nothing to tell it
            os.write(go_in, b"1")
        os.close(go_in)
    try:
        store, modules, found, external = pickle.load(results)
    except (EOFError, pickle.UnpicklingError):  # the child failed: check here
        return None
    codebase.modules = {m.name: m for m in modules}
    _, _, imports = rules_and_violations(codebase, graph, external, scanned=scanning,
                                         graph_cache=graph_folder)
    violations = [*imports, *found]
    unchanged = results.read(1) == b"1"  # the child looked meanwhile
    violations.sort(key=lambda v: (v.file, v.line, v.rule, v.key))
    return store, list(codebase.modules), violations, unchanged


def _graph_folder(codebase: Codebase) -> Path | None:
    """Where grimp keeps its cache (:attr:`LintCache.graph_folder`); None if unwritable."""
    folder = codebase.root / CACHE_FOLDER / "grimp"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return folder


def _unchanged_since(began: int, paths: list[str]) -> bool:
    """Whether none of ``paths`` (files, their folders, carve.toml) changed after ``began``.

    A folder changes when a file is added to it or taken out; carve.toml may be absent.
    """
    for path in set(paths):
        try:
            if os.stat(path).st_ctime_ns >= began:
                return False
        except FileNotFoundError:
            if not path.endswith(CONFIG_FILE):
                return False
        except OSError:
            return False
    return True
