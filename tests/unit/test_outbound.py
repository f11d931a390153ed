"""The outbound guard: every address class, IPv6 and legacy IPv4 spellings, the allow-list, the
request-time and connect-time checks (DNS rebinding), and redirects checked hop by hop (a real local
HTTP server on loopback)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

from stream_app import outbound as ob
from stream_app.outbound import Policy

DENY = Policy()
PRIVATE_OK = Policy(allow_private=True)


@pytest.mark.parametrize(
    ("address", "cls"),
    [
        ("127.0.0.1", "private"),
        ("127.255.255.254", "private"),
        ("10.0.0.1", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "private"),  # CGNAT
        ("100.127.255.254", "private"),
        ("::1", "private"),
        ("fc00::1", "private"),  # ULA
        ("fd12:3456::1", "private"),
        ("169.254.169.254", "never"),  # cloud metadata (link-local)
        ("169.254.0.1", "never"),
        ("fe80::1", "never"),
        ("224.0.0.1", "never"),  # multicast
        ("239.255.255.250", "never"),
        ("ff02::1", "never"),
        ("0.0.0.0", "never"),  # unspecified
        ("::", "never"),
        ("0.1.2.3", "never"),  # "this network"
        ("255.255.255.255", "never"),  # broadcast
        ("240.0.0.1", "never"),  # reserved
        ("192.0.2.10", "never"),  # documentation
        ("198.18.0.1", "never"),  # benchmarking
        ("2001:db8::1", "never"),
        ("fec0::1", "never"),  # deprecated site-local
        ("::ffff:127.0.0.1", "private"),  # IPv4-mapped
        ("::ffff:169.254.169.254", "never"),
        ("::ffff:10.1.2.3", "private"),
        ("::127.0.0.1", "private"),  # IPv4-compatible (deprecated)
        ("64:ff9b::7f00:1", "private"),  # NAT64 of 127.0.0.1
        ("64:ff9b::a9fe:a9fe", "never"),  # NAT64 of 169.254.169.254
        ("2002:7f00:1::", "private"),  # 6to4 of 127.0.0.1
        ("2002:a9fe:a9fe::1", "never"),  # 6to4 of 169.254.169.254
        ("93.184.216.34", "public"),
        ("8.8.8.8", "public"),
        ("2606:4700:4700::1111", "public"),
        ("::ffff:8.8.8.8", "public"),
    ],
)
def test_address_classes(address: str, cls: str) -> None:
    ip = ipaddress.ip_address(address)
    assert ob.address_class(ip) == cls
    assert ob.address_allowed(ip, DENY) is (cls == "public")
    assert ob.address_allowed(ip, PRIVATE_OK) is (cls != "never")


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("2130706433", "127.0.0.1"),  # one decimal number
        ("0x7f000001", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0x7F.0.0.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),  # octal
        ("0177.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("127.0.1", "127.0.0.1"),
        ("10.1", "10.0.0.1"),
        ("2852039166", "169.254.169.254"),
        ("0xa9.0xfe.0xa9.0xfe", "169.254.169.254"),
        ("0", "0.0.0.0"),
        ("127.0.0.1.", "127.0.0.1"),
        ("[::1]", "::1"),
        ("[::ffff:127.0.0.1]", "::ffff:127.0.0.1"),
        ("[::ffff:7f00:1]", "::ffff:127.0.0.1"),
        ("[fe80::1%eth0]", "fe80::1"),
        ("[0:0:0:0:0:0:0:1]", "::1"),
    ],
)
def test_literal_spellings_name_their_address(host: str, address: str) -> None:
    assert ob.ip_literal(host) == ipaddress.ip_address(address)
    with pytest.raises(ob.OutboundRefused) as info:
        ob.check_host_name(host, DENY)
    assert info.value.reason == ob.ADDRESS_NOT_ALLOWED


@pytest.mark.parametrize(
    "host", ["example.org", "1.2.3.4.5", "256.1.1.1.1", "0x", "08.1.1.1", "1e3", "a.1", "127.0.0.1x", ""]
)
def test_names_are_not_literals(host: str) -> None:
    assert ob.ip_literal(host) is None or host == "0x"  # "0x" is 0 for inet_aton too


@given(st.ip_addresses(v=4))
def test_every_ipv4_spelling_is_classed_as_the_dotted_form(ip: ipaddress.IPv4Address) -> None:
    n = int(ip)
    a, b, c, d = ip.packed
    spellings = [
        str(n),
        hex(n),
        f"0{n:o}" if n else "0",
        f"{a}.{(b << 16) | (c << 8) | d}",
        f"{a}.{b}.{(c << 8) | d}",
        f"0x{a:x}.0x{b:x}.0x{c:x}.0x{d:x}",
        f"0{a:o}.0{b:o}.0{c:o}.0{d:o}",
        f"[::ffff:{ip}]",
    ]
    expected = ob.address_class(ip)
    for host in spellings:
        literal = ob.ip_literal(host)
        assert literal is not None, host
        assert ob.address_class(literal) == expected, host


@given(
    st.one_of(
        st.ip_addresses(network="127.0.0.0/8"),
        st.ip_addresses(network="10.0.0.0/8"),
        st.ip_addresses(network="172.16.0.0/12"),
        st.ip_addresses(network="192.168.0.0/16"),
        st.ip_addresses(network="100.64.0.0/10"),
        st.ip_addresses(network="fc00::/7"),
        st.ip_addresses(network="169.254.0.0/16"),
        st.ip_addresses(network="fe80::/10"),
        st.ip_addresses(network="224.0.0.0/4"),
        st.ip_addresses(network="ff00::/8"),
        st.ip_addresses(network="240.0.0.0/4"),
        st.ip_addresses(network="0.0.0.0/8"),
    )
)
def test_no_internal_address_is_reachable_by_default(
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> None:
    assert not ob.address_allowed(ip, DENY)
    if isinstance(ip, ipaddress.IPv4Address):
        mapped = ipaddress.IPv6Address(f"::ffff:{ip}")
        assert not ob.address_allowed(mapped, DENY)
        assert not ob.address_allowed(ob.ip_literal(str(int(ip))) or ip, DENY)


@given(
    st.sampled_from(["169.254.0.0/16", "fe80::/10", "224.0.0.0/4", "ff00::/8", "0.0.0.0/8"]).flatmap(
        lambda net: st.ip_addresses(network=net)
    )
)
def test_allow_private_never_opens_link_local_multicast_or_unspecified(
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> None:
    assert not ob.address_allowed(ip, PRIVATE_OK)


@pytest.mark.parametrize(
    ("host", "allow", "listed"),
    [
        ("data.example.org", ("data.example.org",), True),
        ("DATA.example.org.", ("data.example.org",), True),
        ("evil.example.org", ("data.example.org",), False),
        ("data.example.org.evil.net", ("data.example.org",), False),
        ("a.example.org", ("*.example.org",), True),
        ("a.b.example.org", ("*.example.org",), True),
        ("example.org", ("*.example.org",), False),
        ("badexample.org", ("*.example.org",), False),
        ("127.0.0.1", ("127.0.0.1",), True),
        ("2130706433", ("127.0.0.1",), True),  # the same address, another spelling
        ("::ffff:127.0.0.1", ("127.0.0.1",), True),
        ("127.0.0.2", ("127.0.0.1",), False),
        ("1.2.3.4", ("*.example.org",), False),
    ],
)
def test_allow_list(host: str, allow: tuple[str, ...], listed: bool) -> None:
    assert ob.host_listed(host, allow) is listed


def test_the_allow_list_narrows_and_never_widens() -> None:
    policy = Policy(allow_hosts=("127.0.0.1", "data.example.org"))
    with pytest.raises(ob.OutboundRefused) as info:
        ob.check_host_name("127.0.0.1", policy)  # listed, but loopback without allow_private
    assert info.value.reason == ob.ADDRESS_NOT_ALLOWED
    with pytest.raises(ob.OutboundRefused) as info:
        ob.check_host_name("other.example.org", policy)
    assert info.value.reason == ob.HOST_NOT_ALLOWED
    ob.check_host_name("data.example.org", policy)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/secret",
        "http://10.0.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:8080/",
        "http://2130706433/",
        "http://0x7f.1/",
        "http://[::ffff:127.0.0.1]/",
        "http://127.1/",
        "http://localhost/",  # a name resolving to loopback (/etc/hosts, no network needed)
        "https://localhost:8443/x",
        "http://0.0.0.0:80/",
        "http://[fe80::1]/",
    ],
)
async def test_request_time_check_refuses_internal_targets(url: str) -> None:
    with pytest.raises(ob.OutboundRefused) as info:
        await ob.check_url(url, DENY)
    assert info.value.reason == ob.ADDRESS_NOT_ALLOWED
    assert str(info.value) == ob.ADDRESS_NOT_ALLOWED  # a fixed text: no host, no address


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://example.org/x", "http:///nohost", "gopher://x/"]
)
async def test_only_http_urls_with_a_host(url: str) -> None:
    with pytest.raises(ob.OutboundRefused) as info:
        await ob.check_url(url, DENY)
    assert info.value.reason == ob.BAD_URL


class RebindingDns:
    """getaddrinfo answering a public address first and loopback afterwards (DNS rebinding)."""

    def __init__(self, answers: list[str]) -> None:
        self.answers = answers
        self.calls = 0

    async def __call__(self, host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        address = self.answers[min(self.calls, len(self.answers) - 1)]
        self.calls += 1
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, int(port or 0)))]


async def test_dns_rebinding_is_refused_at_connect_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """The name passes the request-time check (public answer) and then resolves to loopback: the
    connector's resolver checks the answer it connects to and refuses it."""
    async with served() as port:
        dns = RebindingDns(["93.184.216.34", "127.0.0.1"])
        loop = asyncio.get_running_loop()
        monkeypatch.setattr(loop, "getaddrinfo", dns)
        async with ob.guarded_session(DENY, 5) as session:
            with pytest.raises(ob.OutboundRefused) as info:
                async with ob.request(session, "GET", f"http://rebind.example:{port}/secret"):
                    pass
        assert info.value.reason == ob.ADDRESS_NOT_ALLOWED
        assert dns.calls == 2  # request time, then connect time
        assert Hits.count == 0


async def test_a_name_with_any_internal_address_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    async def both(host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", 80)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.7", 80)),
        ]

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", both)
    with pytest.raises(ob.OutboundRefused):
        await ob.check_url("http://mixed.example/", DENY)
    resolver = ob.GuardedResolver(DENY)
    with pytest.raises(ob.OutboundRefused):
        await resolver.resolve("mixed.example", 80)


async def test_a_literal_address_is_checked_when_the_socket_is_made() -> None:
    """aiohttp hands literal addresses straight to the connector (no resolver): the guarded socket
    factory refuses them even when the request-time check is skipped."""
    async with served() as port, ob.guarded_session(DENY, 5) as session:
        with pytest.raises(aiohttp.ClientConnectorError) as info:
            async with session.get(f"http://127.0.0.1:{port}/secret"):
                pass
        assert isinstance(info.value.__cause__, ob.OutboundRefused)
        assert Hits.count == 0


async def test_an_unguarded_session_is_refused() -> None:
    async with aiohttp.ClientSession() as session:
        with pytest.raises(ob.OutboundRefused):
            async with ob.request(session, "GET", "http://93.184.216.34/"):
                pass


class Hits:
    count = 0


async def _secret(_request: web.Request) -> web.Response:
    Hits.count += 1
    return web.Response(text="the-secret-body")


async def _redirect(request: web.Request) -> web.Response:
    raise web.HTTPFound(request.query["to"])


async def _loop(request: web.Request) -> web.Response:
    raise web.HTTPFound(f"/loop?n={int(request.query.get('n', '0')) + 1}")


@asynccontextmanager
async def served() -> AsyncIterator[int]:
    Hits.count = 0
    app = web.Application()
    app.router.add_get("/secret", _secret)
    app.router.add_get("/r", _redirect)
    app.router.add_get("/loop", _loop)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    finally:
        await runner.cleanup()


async def test_redirect_hops_are_checked_like_the_first() -> None:
    """The first hop is reachable (allow_private + allow-list naming 127.0.0.1); each redirect target
    is what is refused."""
    policy = Policy(allow_hosts=("127.0.0.1",), allow_private=True, max_redirects=3)
    async with served() as port, ob.guarded_session(policy, 5) as session:
        base = f"http://127.0.0.1:{port}"
        async with ob.open_following(session, f"{base}/r?to=/secret") as resp:  # same host: followed
            assert resp.status == 200 and await resp.text() == "the-secret-body"
        Hits.count = 0
        for target, reason in [
            (f"http://localhost:{port}/secret", ob.HOST_NOT_ALLOWED),
            ("http://169.254.169.254/latest/meta-data/", ob.HOST_NOT_ALLOWED),
            (f"http://[::1]:{port}/secret", ob.HOST_NOT_ALLOWED),
            ("file:///etc/passwd", ob.BAD_URL),
        ]:
            with pytest.raises(ob.OutboundRefused) as info:
                async with ob.open_following(session, f"{base}/r?to={target}"):
                    pass
            assert info.value.reason == reason, target
        with pytest.raises(ob.OutboundRefused) as info:
            async with ob.open_following(session, f"{base}/loop"):
                pass
        assert info.value.reason == ob.TOO_MANY_REDIRECTS
    assert Hits.count == 0
    # Without the allow-list, allow_private still refuses the metadata address on a redirect.
    async with served() as port, ob.guarded_session(PRIVATE_OK, 5) as session:
        with pytest.raises(ob.OutboundRefused) as info:
            url = f"http://127.0.0.1:{port}/r?to=http://169.254.169.254/latest/meta-data/"
            async with ob.open_following(session, url):
                pass
        assert info.value.reason == ob.ADDRESS_NOT_ALLOWED


async def test_no_redirects_when_the_limit_is_zero() -> None:
    policy = Policy(allow_private=True, max_redirects=0)
    async with served() as port, ob.guarded_session(policy, 5) as session:
        with pytest.raises(ob.OutboundRefused) as info:
            async with ob.open_following(session, f"http://127.0.0.1:{port}/r?to=/secret"):
                pass
        assert info.value.reason == ob.TOO_MANY_REDIRECTS
    assert Hits.count == 0


async def test_the_session_ignores_proxy_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    async with ob.guarded_session(DENY, 5) as session:
        assert session.trust_env is False
