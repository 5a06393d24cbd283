"""carve analyze: how coupled each module is, how ready to leave, and in what order."""
