"""The log redactor masks kilowatch API keys by shape, credential query parameters of signed URLs and
URL passwords, wherever they sit in a line (hypothesis: any surrounding text, any value)."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from api.services.keys import KEY_RE, new_key
from stream_app.logging_setup import _SECRET_PARAMS, MASK, Redactor, build_handler

redact = Redactor()
around = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=60)
key_secret = st.from_regex(r"[A-Za-z0-9_-]{30,64}", fullmatch=True)
prefix = st.from_regex(r"[A-Za-z0-9]{8}", fullmatch=True)


def test_the_key_shape_is_the_one_the_api_makes() -> None:
    key, pfx = new_key()
    assert KEY_RE.fullmatch(key)
    assert redact(f"auth with {key} failed") == f"auth with kw_{pfx}_{MASK} failed"


@given(before=around, after=around, pfx=prefix, secret=key_secret)
def test_api_keys_are_masked_anywhere(before: str, after: str, pfx: str, secret: str) -> None:
    assume(secret not in before + after)
    out = redact(f"{before}kw_{pfx}_{secret}{after}")
    assert secret not in out
    assert f"kw_{pfx}_" in out  # the public prefix stays: it names the key in the key list


@given(
    name=st.sampled_from(_SECRET_PARAMS).flatmap(lambda n: st.sampled_from([n, n.upper(), n.title()])),
    value=st.from_regex(r"[A-Za-z0-9%._~+/=-]{6,80}", fullmatch=True),
    sep=st.sampled_from(["?", "&"]),
    before=around,
)
def test_credential_query_parameters_are_masked(name: str, value: str, sep: str, before: str) -> None:
    assume(value not in before)
    query = f"X-Amz-Algorithm=AWS4-HMAC-SHA256&{name}={value}&part=2"
    if sep == "?":  # the credential first
        query = f"{name}={value}&X-Amz-Algorithm=AWS4-HMAC-SHA256&part=2"
    url = f"https://bucket.s3.amazonaws.com/obj.csv?{query}#frag"
    out = redact(f"{before} GET {url} failed")
    assert value not in out
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in out and "part=2" in out  # other parameters stay


@given(
    user=st.from_regex(r"[A-Za-z0-9._~-]{1,20}", fullmatch=True),
    password=st.text(  # printable ASCII: what a URL may hold ("/", "?", "#" end the userinfo)
        st.characters(min_codepoint=33, max_codepoint=126, exclude_characters="/?#"), min_size=4, max_size=40
    ),
    scheme=st.sampled_from(["https", "http", "postgresql", "redis", "amqp"]),
)
def test_url_passwords_are_masked_even_with_at_signs(user: str, password: str, scheme: str) -> None:
    assume(password not in f"{scheme}://{user}:@db.example.org:5432/kw")
    out = redact(f"connect {scheme}://{user}:{password}@db.example.org:5432/kw failed")
    assert password not in out
    assert f"{scheme}://{user}:{MASK}@db.example.org:5432/kw" in out


@pytest.mark.parametrize(
    ("line", "gone"),
    [
        (
            "GET https://b.s3.amazonaws.com/k?X-Amz-Credential=AKIAXYZ%2F20240101&X-Amz-Signature=f00dbabe",
            ["AKIAXYZ", "f00dbabe"],
        ),
        ("https://acct.blob.core.windows.net/c/b.csv?sv=2022&sig=AbC123%2Bxyz&se=2030", ["AbC123"]),
        (
            "http://h/x.csv?access_token=ya29.a0AfB&token=t0ken&key=AIzaSy123",
            ["ya29.a0AfB", "t0ken", "AIzaSy123"],
        ),
        ("https://reader:s3cret@data.example.org:8443/a.csv", ["s3cret"]),
        ("redis://:p@ss@w0rd@cache:6379/0", ["p@ss@w0rd", "ss@w0rd"]),
        ("key kw_AbCd1234_abcdefghijklmnopqrstuvwxyz0123456789-_ABCDEFG used", ["abcdefghijklmnop"]),
    ],
)
def test_known_lines(line: str, gone: list[str]) -> None:
    out = redact(line)
    for secret in gone:
        assert secret not in out, out


def test_the_json_handler_masks_keys_and_signed_urls_in_messages_extras_and_tracebacks() -> None:
    key, _ = new_key()
    handler = build_handler("json", stream=io.StringIO())
    logger = logging.getLogger("kw.redaction")
    logger.handlers = [handler]
    logger.propagate = False
    try:
        raise RuntimeError(f"upstream refused {key}")
    except RuntimeError:
        logger.exception(
            "GET https://b/x?X-Amz-Signature=sigsigsig1", extra={"url": "https://h/?token=tok-tok-9"}
        )
    text = handler.stream.getvalue()  # type: ignore[attr-defined]
    secret = key.split("_", 2)[2]
    for s in (secret, "sigsigsig1", "tok-tok-9"):
        assert s not in text, s
    assert json.loads(text)["level"] == "error"
    assert re.search(r"kw_[A-Za-z0-9]{8}_\*\*\*", text)
