"""carve events: the catalog of events, transport swaps, dead letters, relay and workers."""
