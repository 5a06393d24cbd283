"""Running and deploying a migrated layout: ``carve up`` and ``carve export compose|k8s``."""
