"""carve lint: the boundaries between modules, checked in imports, tables and events.

Rules are generated from the modules a codebase declares (or, without
``ModuleSpec``, from the sub-packages of its modules root); nothing is
hand-listed. Imports are checked on grimp's graph, built once per run.
"""
