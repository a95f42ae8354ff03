"""Output folder pruning: by age first, then oldest-first down to the size cap."""

from __future__ import annotations

import os

from zimage.outputs import prune, unique_path


def make(folder, name, size, mtime):
    path = folder / name
    path.write_bytes(b"x" * size)
    os.utime(path, (mtime, mtime))
    return path


def test_prune_by_age_then_by_total_size(tmp_path):
    now = 1_000_000.0
    old = make(tmp_path, "old.png", 10, now - 7200)
    a = make(tmp_path, "a.png", 100, now - 30)
    b = make(tmp_path, "b.png", 100, now - 20)
    c = make(tmp_path, "c.png", 100, now - 10)
    other = make(tmp_path, "keep.txt", 10_000, now - 99999)
    assert prune(tmp_path, max_age_seconds=3600, max_total_bytes=250, now=now) == 2
    assert not old.exists() and not a.exists()
    assert b.exists() and c.exists() and other.exists()


def test_unique_path_never_overwrites(tmp_path):
    first = unique_path(tmp_path, "zimage-1")
    first.write_bytes(b"")
    assert unique_path(tmp_path, "zimage-1").name == "zimage-1-1.png"


def test_prune_never_deletes_the_files_just_served(tmp_path):
    # The app serves images straight from the output folder: pruning the answer's own files would give dead links.
    now = 1_000_000.0
    older = make(tmp_path, "older.png", 100, now - 20)
    fresh = make(tmp_path, "fresh.png", 100, now - 10)
    assert prune(tmp_path, max_age_seconds=3600, max_total_bytes=50, now=now, keep=[str(fresh)]) == 1
    assert fresh.exists() and not older.exists()


def test_prune_keeps_answers_other_requests_wrote_while_it_ran(tmp_path):
    # A slow request that started at `started` must not delete a quick one's answer, written meanwhile, before
    # that caller fetched it (it did, under load: a 403 for the quick caller's download).
    now, started = 1_000_000.0, 999_990.0
    older = make(tmp_path, "older.png", 100, now - 20)
    others = make(tmp_path, "others.png", 100, now - 5)
    own = make(tmp_path, "own.png", 100, now - 1)
    assert prune(tmp_path, max_age_seconds=3600, max_total_bytes=50, now=now, keep=[str(own)], since=started) == 1
    assert own.exists() and others.exists() and not older.exists()
