"""Which client sent a request: the address rate limits and login lockouts count against.

The address is the TCP peer's unless the server sits behind proxies it trusts
(``STUDIO_TRUSTED_PROXY_HOPS``): each such proxy appends the address it received the request from to
``X-Forwarded-For``, so with ``n`` trusted hops the client is the ``n``-th entry from the right.
Anything further left was written by the client itself and is ignored (a bot could put any
address there). With 0 hops the header is not read at all.

IPv6 addresses count by their /64 network: one subscriber line gets a whole /64 and can pick a new
address in it for every request. IPv4-mapped IPv6 addresses count as the IPv4 address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

__all__ = ["client_address", "normalise_address", "request_client"]

UNKNOWN = "unknown"


def normalise_address(text: str) -> str:
    """The rate-limit key of one address: IPv4 as is, IPv6 as its /64, anything else as given."""
    text = text.strip().strip("[]")
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        # not an address (a test client's "testclient", a broken header): keep it, bounded
        return text[:64] or UNKNOWN
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def client_address(peer: str | None, headers: Mapping[str, str] | None, trusted_hops: int = 0) -> str:
    """The client's address from the TCP ``peer`` and, behind ``trusted_hops`` proxies, the
    ``X-Forwarded-For`` header (see the module docstring); normalised by :func:`normalise_address`."""
    chain: list[str] = []
    if trusted_hops > 0 and headers is not None:
        # several X-Forwarded-For headers are one list, in order (RFC 9110 field combination)
        raw = ",".join(value for key, value in _items(headers) if key.lower() == "x-forwarded-for")
        chain = [part.strip() for part in raw.split(",") if part.strip()]
    chain.append(peer or UNKNOWN)
    # chain[-1] is the nearest proxy (the peer); each trusted proxy before it appended one entry
    return normalise_address(chain[max(0, len(chain) - 1 - trusted_hops)])


def request_client(request: Any, trusted_hops: int = 0) -> str:
    """:func:`client_address` of a Starlette (or Gradio) request: its TCP peer and its headers."""
    peer = request.client.host if request.client else None
    return client_address(peer, request.headers, trusted_hops)


def _items(headers: Mapping[str, str]) -> list[tuple[str, str]]:
    multi = getattr(headers, "multi_items", None)  # Starlette headers keep repeated fields
    return list(multi()) if callable(multi) else list(headers.items())
