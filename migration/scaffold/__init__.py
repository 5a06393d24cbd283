"""``carve new module NAME``: a new module to the documented layout, ready to grow."""
