"""The strangler-fig gateway: route by route, traffic moves from the monolith to services.

In layers, each importing only those below it:

- ``process`` runs one gateway; ``bootstrap`` is its composition root, the one place
  that builds every part and hands each the few collaborators it needs.
- ``proxy.Gateway`` (the ASGI data plane) and ``direct`` (plain GETs on callbacks) send a
  request where ``dispatch`` says; ``failover``, ``shadow_mode`` and ``slo_guard`` do what
  each mode needs; ``admin_api`` is the token-guarded control API under ``/_carve/``.
- ``route_changes``, the use case behind the admin API, the SLO guard and ``carve route``.
- ``routes`` (the table and its modes), ``store`` (a watched JSON file or Redis shared by
  replicas), ``slo_window``, ``shadow_diff``, ``traffic_metrics``; ``http1``,
  ``http_server``, ``upstream`` and ``flow_control`` speak HTTP/1.1 on both sides.
- ``exports`` writes the same table as NGINX, Envoy and Kubernetes Gateway API
  configuration; ``admin_client`` is the admin API seen from the command line.
"""
