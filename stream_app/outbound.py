"""The outbound guard: which addresses a server-side fetch (a training ``data_url``, an alert webhook)
may reach.

A user who can name a URL the server fetches must not be able to reach the server's own network:
loopback, private ranges, link-local (169.254.169.254 is the cloud metadata service), multicast,
unspecified and reserved addresses are refused, also when written as an IPv4-mapped IPv6 address or in
a legacy numeric form (``2130706433``, ``0x7f.1``, ``127.1``).

The check runs twice with the same rules:

- at request time (:func:`check_url`): the URL's host is parsed, resolved, and **every** address it
  resolves to must be allowed;
- at connect time (:class:`GuardedResolver`, the resolver of the session from :func:`guarded_session`):
  the connector connects only to addresses this resolver returned, and it refuses a name with any
  forbidden address, so a name re-bound between the two checks (DNS rebinding) is refused too.

Redirects are never followed by aiohttp: :func:`open_following` follows a few by hand, checking each
hop. Operators may name an allow-list of hosts (``outbound.allow_hosts``) and may let local
deployments reach loopback and private addresses (``outbound.allow_private``); link-local, multicast,
unspecified and reserved addresses are refused even then.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver
from yarl import URL

from schemas.errors import KilowatchError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Reasons (fixed texts: they never hold the URL, the host or anything the server answered).
ADDRESS_NOT_ALLOWED = "address not allowed"
HOST_NOT_ALLOWED = "host not on the allow-list"
BAD_URL = "not an http(s) URL with a host"
UNRESOLVABLE = "host does not resolve"
TOO_MANY_REDIRECTS = "too many redirects"

_PRIVATE_V4 = tuple(
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")
)
_NAT64 = tuple(ipaddress.ip_network(n) for n in ("64:ff9b::/96", "64:ff9b:1::/48"))
_REDIRECTS = (301, 302, 303, 307, 308)
DEFAULT_TIMEOUT = aiohttp.ClientTimeout(total=300, sock_connect=30)  # aiohttp's own default: 5 minutes


class OutboundRefused(KilowatchError):
    """A fetch was refused by the outbound guard. ``reason`` is one of the fixed texts above; ``detail``
    (host and address) is for the server's log only."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Policy:
    """What outbound fetches may reach (from ``settings.outbound``)."""

    allow_hosts: tuple[str, ...] = ()
    allow_private: bool = False
    max_redirects: int = 3

    @classmethod
    def from_settings(cls, outbound: Any) -> Policy:
        return cls(tuple(outbound.allow_hosts), bool(outbound.allow_private), int(outbound.max_redirects))


def legacy_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """The address of a numeric IPv4 host in any form ``inet_aton`` accepts: 1 to 4 parts, each decimal,
    ``0x`` hex or ``0``-prefixed octal, the last part filling the remaining bytes (``2130706433``,
    ``0x7f.1``, ``0177.0.0.1``, ``127.1``); None if ``host`` is not such a number (pure)."""
    parts = host.split(".")
    if host.endswith("."):  # a trailing dot is allowed once, as in DNS names
        parts = parts[:-1]
    if not 1 <= len(parts) <= 4:
        return None
    values = []
    for part in parts:
        try:
            if part[:2].lower() == "0x":
                values.append(int(part[2:], 16) if len(part) > 2 else 0)
            elif len(part) > 1 and part.startswith("0"):
                values.append(int(part[1:], 8))
            elif part.isdigit() and part.isascii():
                values.append(int(part))
            else:
                return None
        except ValueError:
            return None
    *head, last = values
    if any(v > 255 for v in head) or last >= 256 ** (4 - len(head)):
        return None
    number = last
    for i, v in enumerate(head):
        number |= v << (8 * (3 - i))
    return ipaddress.IPv4Address(number)


def ip_literal(host: str) -> IPAddress | None:
    """The address a host names literally (IPv6 with or without brackets and zone, IPv4 in any numeric
    form), or None for a DNS name (pure)."""
    h = host.strip().removeprefix("[").removesuffix("]")
    h = h.split("%", 1)[0]  # an IPv6 zone id (fe80::1%eth0) names an interface, not another address
    try:
        return ipaddress.ip_address(h)
    except ValueError:
        return legacy_ipv4(h)


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for: mapped (::ffff:a.b.c.d), compatible (::a.b.c.d),
    NAT64 (64:ff9b::/96), 6to4 (2002::/16) or Teredo (its client address) (pure)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if any(ip in net for net in _NAT64):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if int(ip) >> 32 == 0 and int(ip) > 1:  # ::a.b.c.d (deprecated IPv4-compatible), not :: or ::1
        return ipaddress.IPv4Address(int(ip))
    return None


def address_class(ip: IPAddress) -> str:
    """``public``, ``private`` (loopback, RFC 1918, CGNAT, ULA: reachable only with allow_private) or
    ``never`` (unspecified, link-local, multicast, reserved, documentation and every other non-global
    range) (pure). An IPv6 address standing for an IPv4 one is classed as that IPv4 address."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = embedded_ipv4(ip)
        if inner is not None:
            return address_class(inner)
        if ip.is_loopback or ip in ipaddress.ip_network("fc00::/7"):
            return "private"
    else:
        if ip.is_loopback or any(ip in net for net in _PRIVATE_V4):
            return "private"
    if ip.is_unspecified or ip.is_link_local or ip.is_multicast or ip.is_reserved:
        return "never"
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:
        return "never"
    return "public" if ip.is_global else "never"


def address_allowed(ip: IPAddress, policy: Policy) -> bool:
    cls = address_class(ip)
    return cls == "public" or (cls == "private" and policy.allow_private)


def _canonical(ip: IPAddress | None) -> IPAddress | None:
    """An IPv4-mapped IPv6 address as its IPv4 address (the same host), others unchanged."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def host_listed(host: str, allow_hosts: Sequence[str]) -> bool:
    """Whether ``host`` is on the allow-list: an exact name (case and a trailing dot ignored), the same
    IP address in any form, or ``*.suffix`` for any subdomain of ``suffix`` (pure)."""
    name = host.strip().lower().removeprefix("[").removesuffix("]").rstrip(".")
    literal = _canonical(ip_literal(name))
    for entry in allow_hosts:
        e = entry.strip().lower().removeprefix("[").removesuffix("]").rstrip(".")
        if e.startswith("*."):
            if literal is None and name.endswith(e[1:]) and len(name) > len(e) - 1:
                return True
        elif literal is not None:
            if _canonical(ip_literal(e)) == literal:
                return True
        elif name == e:
            return True
    return False


def parse_target(url: str | URL) -> tuple[str, int]:
    """(host, port) of an http(s) URL, or OutboundRefused(BAD_URL) (pure)."""
    try:
        u = url if isinstance(url, URL) else URL(url)
    except (ValueError, TypeError):
        raise OutboundRefused(BAD_URL, "unparsable URL") from None
    if u.scheme not in ("http", "https") or not u.raw_host:
        raise OutboundRefused(BAD_URL, f"scheme {u.scheme!r}")
    port = u.port or (443 if u.scheme == "https" else 80)
    return u.raw_host, port


def check_host_name(host: str, policy: Policy) -> IPAddress | None:
    """The allow-list and literal-address part of the check (pure): refuses a host not on a non-empty
    allow-list and a literal address that is not allowed; returns the literal address, if any."""
    if policy.allow_hosts and not host_listed(host, policy.allow_hosts):
        raise OutboundRefused(HOST_NOT_ALLOWED, f"host {host}")
    literal = ip_literal(host)
    if literal is not None and not address_allowed(literal, policy):
        raise OutboundRefused(ADDRESS_NOT_ALLOWED, f"host {host} is {literal} ({address_class(literal)})")
    return literal


def check_addresses(host: str, addresses: Sequence[str], policy: Policy) -> None:
    """Every address a name resolved to must be allowed (one forbidden address refuses the name)."""
    if not addresses:
        raise OutboundRefused(UNRESOLVABLE, f"host {host}: no addresses")
    for text in addresses:
        ip = ip_literal(text)
        if ip is None or not address_allowed(ip, policy):
            raise OutboundRefused(ADDRESS_NOT_ALLOWED, f"host {host} resolves to {text}")


async def _getaddrinfo(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise OutboundRefused(UNRESOLVABLE, f"host {host}: {exc}") from None
    return [str(info[4][0]) for info in infos]


async def check_url(url: str | URL, policy: Policy) -> None:
    """The request-time check: scheme, allow-list, and every address the host names or resolves to."""
    host, port = parse_target(url)
    if check_host_name(host, policy) is not None:
        return
    check_addresses(host, await _getaddrinfo(host, port), policy)


class GuardedResolver(AbstractResolver):
    """The connect-time check: resolves like aiohttp's threaded resolver and refuses a name if any of
    its addresses is not allowed. The connector connects only to addresses returned here, so the
    address checked is the address connected."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self._inner = ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        check_host_name(host, self.policy)
        try:
            results = await self._inner.resolve(host, port, family)
        except OSError as exc:
            raise OutboundRefused(UNRESOLVABLE, f"host {host}: {exc}") from None
        check_addresses(host, [r["host"] for r in results], self.policy)
        return results

    async def close(self) -> None:
        await self._inner.close()


class ConnectRefused(OutboundRefused, OSError):
    """Raised by the guarded socket factory (an OSError, as the connector expects of a failed connect)."""


class GuardedConnector(aiohttp.TCPConnector):
    """A TCP connector whose every name goes through :class:`GuardedResolver` (no DNS cache, so each
    connection is checked against a fresh answer) and whose every socket is made by a factory that
    checks the very address about to be connected (literal addresses never reach a resolver)."""

    def __init__(self, policy: Policy, **kwargs: Any) -> None:
        super().__init__(
            resolver=GuardedResolver(policy),
            use_dns_cache=False,
            socket_factory=self._socket_for,
            **kwargs,
        )
        self.policy = policy

    def _socket_for(self, addr_info: tuple[Any, ...]) -> socket.socket:
        family, kind, proto, _canon, sockaddr = addr_info
        ip = ip_literal(str(sockaddr[0]))
        if ip is None or not address_allowed(ip, self.policy):
            raise ConnectRefused(ADDRESS_NOT_ALLOWED, f"connect to {sockaddr[0]}")
        return socket.socket(family, kind, proto)


def guarded_session(policy: Policy, timeout_s: float | None = None) -> aiohttp.ClientSession:
    """A client session for outbound fetches: guarded connector, no proxy from the environment (a
    proxy would connect on our behalf, past the connect-time check)."""
    timeout = aiohttp.ClientTimeout(total=timeout_s) if timeout_s is not None else DEFAULT_TIMEOUT
    return aiohttp.ClientSession(connector=GuardedConnector(policy), timeout=timeout, trust_env=False)


def session_policy(session: aiohttp.ClientSession) -> Policy:
    """The policy of a guarded session; OutboundRefused for any other session (fail closed)."""
    connector = session.connector
    if not isinstance(connector, GuardedConnector):
        raise OutboundRefused(ADDRESS_NOT_ALLOWED, "the session has no outbound guard")
    return connector.policy


def _unwrap(exc: BaseException) -> OutboundRefused | None:
    """The guard's refusal inside an aiohttp connection error (the resolver's exception is wrapped)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OutboundRefused):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


@asynccontextmanager
async def request(
    session: aiohttp.ClientSession, method: str, url: str | URL, **kwargs: Any
) -> AsyncIterator[aiohttp.ClientResponse]:
    """One request through a guarded session: checked at request time, redirects not followed."""
    await check_url(url, session_policy(session))
    try:
        async with session.request(method, url, allow_redirects=False, **kwargs) as resp:
            yield resp
    except aiohttp.ClientError as exc:
        refused = _unwrap(exc)
        if refused is not None:
            raise refused from None
        raise


@asynccontextmanager
async def open_following(
    session: aiohttp.ClientSession, url: str, **kwargs: Any
) -> AsyncIterator[aiohttp.ClientResponse]:
    """GET ``url``, following at most ``policy.max_redirects`` redirects by hand, each hop checked like
    the first. The final response is yielded (whatever its status)."""
    policy = session_policy(session)
    current = URL(url)
    for _hop in range(policy.max_redirects + 1):
        async with request(session, "GET", current, **kwargs) as resp:
            location = resp.headers.get("Location")
            if resp.status not in _REDIRECTS or not location:
                yield resp
                return
            try:
                current = resp.url.join(URL(location))
            except ValueError:
                raise OutboundRefused(BAD_URL, "unparsable redirect") from None
    raise OutboundRefused(TOO_MANY_REDIRECTS, f"more than {policy.max_redirects}")
