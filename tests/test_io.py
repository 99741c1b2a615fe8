"""Atomic writers: results appear whole or not at all, with the permissions of ordinary new files."""

from __future__ import annotations

import os
import stat

import pytest

from tlsfinder.io import atomic_dir, atomic_path


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_files_and_folders_get_ordinary_permissions(tmp_path, umask_022):
    with atomic_path(tmp_path / "a.txt") as tmp:
        tmp.write_text("x")
    with atomic_dir(tmp_path / "model") as tmp:
        (tmp / "m.json").write_text("{}")
    # readable by colleagues on a shared project directory (mkstemp/mkdtemp alone give 0600/0700)
    assert mode(tmp_path / "a.txt") == 0o644
    assert mode(tmp_path / "model") == 0o755
    assert (tmp_path / "model" / "m.json").read_text() == "{}"


def test_a_folder_is_replaced_whole_and_a_failed_write_leaves_the_old_one(tmp_path):
    with atomic_dir(tmp_path / "model") as tmp:
        (tmp / "old.txt").write_text("1")
    with pytest.raises(RuntimeError):
        with atomic_dir(tmp_path / "model") as tmp:
            (tmp / "new.txt").write_text("2")
            raise RuntimeError("killed half-way")
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == ["old.txt"]
    with atomic_dir(tmp_path / "model") as tmp:
        (tmp / "new.txt").write_text("2")
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["model"]  # no temporary folder left behind
