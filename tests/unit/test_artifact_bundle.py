"""Bundle checksums, the archive form, the local cache and the file store's checksum (no database)."""

from __future__ import annotations

import hashlib
import io
import tarfile
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stream_app.lifecycle.artifact_bundle import ArtifactError, pack, tree_digest, unpack
from stream_app.lifecycle.artifact_cache import BundleCache
from stream_app.lifecycle.artifact_pg import parse_uri, uri_of
from stream_app.lifecycle.artifacts import LocalArtifactStore

MAX = 1 << 20
names = st.text(alphabet="abcdefghij_.-0123456789", min_size=1, max_size=8).filter(
    lambda n: n not in (".", "..")
)
trees = st.dictionaries(
    st.lists(names, min_size=1, max_size=3).map("/".join), st.binary(max_size=300), min_size=1, max_size=6
)


def write_tree(root: Path, files: dict[str, bytes]) -> Path | None:
    root.mkdir(parents=True)
    for rel, data in files.items():
        path = root / rel
        # a name that is both a file and a folder of another entry: not a tree
        if any(p.is_file() for p in path.parents if p != root) or path.is_dir():
            return None
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def bundle(tmp: Path) -> Path:
    src = tmp / "bundle"
    (src / "model").mkdir(parents=True, exist_ok=True)
    (src / "metadata.json").write_text('{"a": 1}')
    (src / "model" / "model.pkl").write_bytes(bytes(range(256)) * 40)
    return src


def test_digest_is_sha256sum_of_the_sorted_file_list(tmp_path: Path) -> None:
    src = bundle(tmp_path)
    lines = "".join(
        f"{hashlib.sha256((src / rel).read_bytes()).hexdigest()}  {rel}\n"
        for rel in ("metadata.json", "model/model.pkl")
    )
    assert tree_digest(src) == hashlib.sha256(lines.encode()).hexdigest()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(files=trees, data=st.data())
def test_any_tree_round_trips_and_any_changed_byte_changes_the_digest(
    tmp_path_factory: pytest.TempPathFactory, files: dict[str, bytes], data: st.DataObject
) -> None:
    tmp = tmp_path_factory.mktemp("t")
    src = write_tree(tmp / "src", files)
    if src is None:
        return
    packed = pack(src, MAX)
    out = tmp / "out"
    out.mkdir()
    unpack(packed.archive, out, MAX)
    assert tree_digest(out) == packed.sha256 == tree_digest(src)
    victims = sorted(p for p in out.rglob("*") if p.is_file() and p.stat().st_size)
    if victims:
        victim = data.draw(st.sampled_from(victims))
        raw = bytearray(victim.read_bytes())
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] ^= 1 + data.draw(st.integers(0, 254))
        victim.write_bytes(bytes(raw))
        assert tree_digest(out) != packed.sha256


def test_size_bound_on_pack_and_unpack(tmp_path: Path) -> None:
    src = bundle(tmp_path)
    with pytest.raises(ArtifactError, match="over the store's limit of 1024"):
        pack(src, 1024)
    packed = pack(src, MAX)
    dest = tmp_path / "d"
    dest.mkdir()
    with pytest.raises(ArtifactError, match="more than the limit of 2000 bytes"):
        unpack(packed.archive, dest, 2000)


def hostile_archive(member: tarfile.TarInfo, data: bytes = b"x") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        member.size = len(data) if member.isfile() else 0
        tar.addfile(member, io.BytesIO(data) if member.isfile() else None)
    return buf.getvalue()


@pytest.mark.parametrize(
    "member",
    [
        tarfile.TarInfo("../escape.txt"),
        tarfile.TarInfo("/abs.txt"),
        tarfile.TarInfo("link"),
    ],
)
def test_hostile_archives_are_refused(tmp_path: Path, member: tarfile.TarInfo) -> None:
    if member.name == "link":
        member.type = tarfile.SYMTYPE
        member.linkname = "/etc/passwd"
    dest = tmp_path / "d"
    dest.mkdir()
    with pytest.raises(ArtifactError, match="not a plain file"):
        unpack(hostile_archive(member), dest, MAX)
    assert not list(dest.iterdir()) and not (tmp_path / "escape.txt").exists()


def test_damaged_archive_is_refused(tmp_path: Path) -> None:
    packed = pack(bundle(tmp_path), MAX)
    dest = tmp_path / "d"
    dest.mkdir()
    with pytest.raises(ArtifactError, match="archive is damaged"):
        unpack(packed.archive[: len(packed.archive) // 2], dest, MAX)


def test_links_in_a_bundle_are_refused(tmp_path: Path) -> None:
    src = bundle(tmp_path)
    (src / "link").symlink_to(src / "metadata.json")
    with pytest.raises(ArtifactError, match="holds a link"):
        pack(src, MAX)


def test_uris_carry_the_checksum_and_nothing_else() -> None:
    import uuid

    ident, digest = uuid.uuid4(), "ab" * 32
    uri = uri_of(ident, digest)
    assert uri == f"postgres://artifacts/{ident}?sha256={digest}"
    assert parse_uri(uri) == (ident, digest)
    for bad in (
        f"postgres://user:pw@db/{ident}?sha256={digest}",
        f"postgres://artifacts/{ident}",
        f"postgres://artifacts/{ident}?sha256=XYZ",
        f"postgres://artifacts/not-a-uuid?sha256={digest}",
        "file:///tmp/x",
    ):
        with pytest.raises(ArtifactError):
            parse_uri(bad)


def test_cache_fetches_once_and_refuses_corrupt_or_tampered_copies(tmp_path: Path) -> None:
    packed = pack(bundle(tmp_path), MAX)
    cache = BundleCache(tmp_path / "cache", MAX)
    fetches: list[int] = []

    def fetch() -> bytes:
        fetches.append(1)
        return packed.archive

    got = cache.get("id1", packed.sha256, fetch, "b1")
    assert tree_digest(got) == packed.sha256
    assert cache.get("id1", packed.sha256, fetch, "b1") == got and len(fetches) == 1
    # a tampered local copy: refused and removed, then fetched again
    (got / "metadata.json").write_text('{"a": 2}')
    with pytest.raises(ArtifactError, match=r"cached copy .* does not match its checksum"):
        cache.get("id1", packed.sha256, fetch, "b1")
    assert not got.exists()
    assert tree_digest(cache.get("id1", packed.sha256, fetch, "b1")) == packed.sha256
    assert len(fetches) == 2
    # a download whose content is not what the registry expects: refused, nothing left behind
    with pytest.raises(ArtifactError, match="is corrupt"):
        cache.get("id2", "0" * 64, fetch, "b2")
    assert not cache.folder("id2", "0" * 64).exists()
    assert not list((tmp_path / "cache").glob(".*.tmp"))


def test_concurrent_first_loads_share_one_download(tmp_path: Path) -> None:
    packed = pack(bundle(tmp_path), MAX)
    cache = BundleCache(tmp_path / "cache", MAX)
    started = threading.Barrier(8)
    fetches: list[int] = []
    seen: list[str] = []

    def fetch() -> bytes:
        fetches.append(1)
        return packed.archive

    def load() -> None:
        started.wait()
        seen.append(tree_digest(cache.get("id", packed.sha256, fetch, "b")))

    threads = [threading.Thread(target=load) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == [packed.sha256] * 8 and len(fetches) == 1


def test_file_store_checks_its_checksum(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "store")
    uri = store.put_dir(bundle(tmp_path), "asset-1")
    assert "?sha256=" in uri
    folder = store.get_dir(uri)
    (folder / "model" / "model.pkl").write_bytes(b"evil")
    with pytest.raises(ArtifactError, match="is corrupt"):
        store.get_dir(uri)
    legacy = uri.split("?", 1)[0]  # written before checksums: read unchecked
    assert store.get_dir(legacy) == folder


def test_open_store_writes_to_the_setting_and_reads_any_known_scheme(tmp_path: Path) -> None:
    from stream_app.lifecycle.artifacts import open_store
    from stream_app.settings import Settings

    base = Settings().with_changes(state_dir=tmp_path / "state", artifact_root=tmp_path / "files")
    old_uri = LocalArtifactStore(tmp_path / "files").put_dir(bundle(tmp_path), "a")
    pg = open_store(base)
    assert pg.transactional and pg.prepare(bundle(tmp_path), "a").uri.startswith("postgres://artifacts/")
    assert tree_digest(pg.get_dir(old_uri)) == tree_digest(bundle(tmp_path))  # rows from before: still read
    with pytest.raises(ArtifactError, match="no artifact store reads s3 URIs"):
        pg.get_dir("s3://bucket/x")
    files = open_store(base.with_changes(artifact_store="file"))
    assert not files.transactional and files.put_dir(bundle(tmp_path), "a").startswith("file://")
    assert not (tmp_path / "state").exists()  # nothing made on disk before it is needed
