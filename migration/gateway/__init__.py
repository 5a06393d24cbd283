"""The strangler-fig gateway: route by route, traffic moves from the monolith to services.

``proxy.Gateway`` is the ASGI data plane; ``routes`` the route table and its modes;
``store`` where the table lives (a watched JSON file or Redis shared by replicas);
``admin`` the token-guarded control API under ``/_carve/``; ``exports`` the same table as
NGINX, Envoy and Kubernetes Gateway API configuration.
"""
