"""``python -m migration.cli``: the same as the ``carve`` command."""

from migration.cli.app import main

main()
