"""The client's address for per-client limits: the socket's peer, or — only when that peer is a
trusted reverse proxy (``api_trusted_proxies``) — the address that proxy saw, from X-Forwarded-For.

X-Forwarded-For is a list each proxy appends to, so only its right end is trustworthy: walking from
the right, trusted proxies are skipped and the first other address is the client. A client can put
anything at the left end; it is never used unless every hop to its right is trusted. With no trusted
proxies (the default) the header is ignored.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def networks(entries: Iterable[str]) -> tuple[Network, ...]:
    """Addresses or CIDR networks (``10.0.0.1``, ``10.0.0.0/8``, ``::1``); a bad entry raises ValueError."""
    return tuple(ipaddress.ip_network(e.strip(), strict=False) for e in entries)


def _trusted(address: str, trusted: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in net for net in trusted)


def client_address(peer: str | None, forwarded_for: str | None, trusted: tuple[Network, ...]) -> str:
    """The address limits are keyed on (``"unknown"`` without a peer)."""
    if peer is None:
        return "unknown"
    if not trusted or not forwarded_for or not _trusted(peer, trusted):
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, trusted):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer  # garbage where the client should be: key on the proxy we know
    return hops[0] if hops else peer
