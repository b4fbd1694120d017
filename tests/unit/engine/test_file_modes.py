"""Owner-only files under a permissive umask: the data directory 0700, chain.sqlite and
ordering.sqlite (and their WAL/SHM files) 0600, looser modes tightened at open; the Q2T token
file read once and refused when others can read it."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.chain.node import open_database
from engine.config import ConfigError, NodeSettings, load_settings
from engine.files import read_token_file
from engine.ordering.local import LocalOrdering
from tests.helpers.file_modes import mode, umask


@pytest.fixture(autouse=True)
def permissive_umask() -> Iterator[None]:
    with umask(0o022):
        yield



def test_a_new_data_directory_is_0700_and_its_database_files_0600(tmp_path: Path) -> None:
    data_dir = tmp_path / "nodes" / "node1"
    database = open_database(NodeSettings(data_dir=data_dir))
    try:
        database.atomic[b"k"] = b"v"
        database.commit()
        assert mode(data_dir) == 0o700
        files = sorted(data_dir.glob("chain.sqlite*"))
        assert {f.name for f in files} >= {"chain.sqlite", "chain.sqlite-wal", "chain.sqlite-shm"}
        assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
    finally:
        database.close()


def test_looser_modes_left_by_an_earlier_version_are_tightened(tmp_path: Path,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    data_dir = tmp_path / "data"
    open_database(NodeSettings(data_dir=data_dir)).close()
    data_dir.chmod(0o755)
    (data_dir / "chain.sqlite").chmod(0o644)
    (data_dir / "chain.sqlite-wal").write_bytes(b"")
    (data_dir / "chain.sqlite-wal").chmod(0o664)
    with caplog.at_level(logging.INFO, logger="engine"):
        database = open_database(NodeSettings(data_dir=data_dir))
    try:
        assert mode(data_dir) == 0o700 and mode(data_dir / "chain.sqlite") == 0o600
        assert mode(data_dir / "chain.sqlite-wal") == 0o600
        assert "tightened" in caplog.text and "0644" in caplog.text
    finally:
        database.close()


def test_the_ordering_file_is_0600_and_a_shared_folder_is_left_as_it_is(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    (shared / "ordering.sqlite").write_bytes(b"")
    (shared / "ordering.sqlite").chmod(0o644)  # an earlier version's file
    ordering = LocalOrdering(shared / "ordering.sqlite")
    try:
        ordering.submit([b"\x01raw"])
        ordering.report_head(3)
        files = sorted(f for f in shared.glob("ordering.sqlite*") if f.is_file())
        assert {"ordering.sqlite", "ordering.sqlite-wal", "ordering.sqlite-shm"} <= {f.name for f in files}
        assert all(mode(f) == 0o600 for f in files), {f.name: oct(mode(f)) for f in files}
        heads = shared / "ordering.sqlite.heads"  # the nodes' reported heads (pacing): owner-only too
        assert mode(heads) == 0o700
        assert [(f.name, mode(f)) for f in heads.iterdir()] == [("node", 0o600)]
        assert mode(shared) == 0o755  # not ours alone: several nodes' files may live there
    finally:
        ordering.close()
    fresh = LocalOrdering(tmp_path / "new" / "ordering.sqlite")
    fresh.close()
    assert mode(tmp_path / "new") == 0o700 and mode(tmp_path / "new" / "ordering.sqlite") == 0o600


def test_the_token_file_is_read_and_refused_when_others_can_read_it(tmp_path: Path) -> None:
    path = tmp_path / "q2t.token"
    path.write_text("the-token\n")
    path.chmod(0o600)
    assert read_token_file(path, "privacy.q2t_token_file") == "the-token"
    path.chmod(0o640)
    with pytest.raises(ConfigError, match=r"privacy.q2t_token_file: permissions 0640 .* too open"):
        read_token_file(path, "privacy.q2t_token_file")
    path.chmod(0o600)
    path.write_text("")
    with pytest.raises(ConfigError, match="is empty"):
        read_token_file(path, "privacy.q2t_token_file")
    with pytest.raises(ConfigError, match="cannot read"):
        read_token_file(tmp_path / "absent", "privacy.q2t_token_file")


def test_the_token_file_setting_is_relative_to_node_toml(tmp_path: Path) -> None:
    config = tmp_path / "node.toml"
    config.write_text('[privacy]\nenabled = true\nq2t_url = "http://127.0.0.1:9101"\nq2t_token_file = "q2t.token"\n')
    assert load_settings(config).privacy.q2t_token_file == tmp_path / "q2t.token"
