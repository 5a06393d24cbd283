"""Paths the gateway refuses: dot segments and encoded slashes could slip past a prefix."""

from __future__ import annotations

_ENCODED_SEPARATORS = (b"%2f", b"%2F", b"%5c", b"%5C")


def is_admin(path: str) -> bool:
    """Whether the path is the gateway's own (``/_carve/…``), not one to route."""
    return path.startswith("/_carve/") or path == "/_carve"


def refusal_reason(path: str, raw_path: bytes | None) -> str | None:
    """Why the path is refused, or ``None`` when it may be routed.

    ``path`` is the decoded path, ``raw_path`` the bytes as sent. A route is matched on the
    decoded path, so ``/api/v1/users/../orders`` or ``/api%2Fv1`` would reach an upstream
    that understands it differently from the prefix the gateway chose.
    """
    if raw_path is not None and b"%" in raw_path:
        for encoded in _ENCODED_SEPARATORS:
            if encoded in raw_path:
                return "an encoded slash or backslash in the path"
    if raw_path is not None and b"#" in raw_path:
        # A fragment is never sent: an upstream would cut the path there (/a/..#x is /a/..).
        return "a '#' in the request target"
    if "\\" in path or "\x00" in path:
        return "a backslash or NUL in the path"
    if "/." in path:
        for segment in path.split("/"):
            if segment in (".", ".."):
                return "a dot segment in the path"
    return None
