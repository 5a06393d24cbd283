"""``carve db split / verify / cutover / rollback``: a module's rows moved online.

Capture triggers on the module's tables log every changed key; the rows are
copied in primary-key order, resumably; the change log is replayed by re-reading
the current row; verification compares counts and checksums per key range and
bisects down to the keys that differ; the cut-over freezes that one module's
writes, drains the log and switches carve.toml. See docs/adr/0012.
"""
