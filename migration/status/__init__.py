"""``carve status``: where each module stands in the six steps, with the evidence for it."""
