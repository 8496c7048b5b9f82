"""Grouping reads the catalog's float16 vector copies: no Milvus round trips, same groups; a library
written before the copies existed (catalog format 1) is upgraded and its copies filled from Milvus."""
import sqlite3

import numpy as np

from desktop_dedup.core import vectors
from desktop_dedup.core.library import CATALOG_NAME, Library

from ..photos import make_library

MODEL = "efficientnet-lite0"


def _groups(res) -> list:
    return sorted((g.kind, tuple(sorted(f.path for f in g.files))) for g in res.groups)


def test_rescan_groups_from_catalog_copies_without_opening_milvus(tmp_path, monkeypatch):
    root = tmp_path / "photos"
    make_library(str(root), n_scenes=3)
    with Library.open(str(tmp_path / "lib")) as lib:
        first = lib.scan([str(root)], model=MODEL)
        cids = sorted({f.content_id for f in lib.catalog.active_files([str(root)], MODEL)})
        copies, missing = lib.catalog.load_vectors(MODEL, cids, 1280)
        stored = lib._index(MODEL).get(cids)
    assert not missing and first.groups
    for i, c in enumerate(cids):  # the copy is the stored vector, normalised, in float16
        ref = stored[c] / np.linalg.norm(stored[c])
        assert float(copies[i].astype(np.float32) @ ref) > 0.9999

    opened = []
    real_init = vectors.VectorIndex.__init__

    def spy(self, *a, **kw):
        opened.append(a)
        real_init(self, *a, **kw)

    monkeypatch.setattr(vectors.VectorIndex, "__init__", spy)
    with Library.open(str(tmp_path / "lib")) as lib:
        lib.catalog.set_setting(f"groups_fingerprint:{MODEL}", "force a regroup")
        again = lib.scan([str(root)], model=MODEL)
    assert opened == []  # nothing new to embed, Milvus Lite not even opened
    assert _groups(again) == _groups(first)


def test_format_1_library_is_upgraded_and_copies_filled_from_milvus(tmp_path):
    root = tmp_path / "photos"
    make_library(str(root), n_scenes=2)
    with Library.open(str(tmp_path / "lib")) as lib:
        first = lib.scan([str(root)], model=MODEL)
    # make it look like a library written by format 1: no vector column
    db = sqlite3.connect(str(tmp_path / "lib" / CATALOG_NAME))
    db.executescript("""
        CREATE TABLE e1 (content_id INTEGER NOT NULL, model TEXT NOT NULL, PRIMARY KEY (content_id, model));
        INSERT INTO e1 SELECT content_id, model FROM embeddings;
        DROP TABLE embeddings; ALTER TABLE e1 RENAME TO embeddings;
        UPDATE meta SET value='1' WHERE key='schema_version';""")
    db.execute(f"INSERT OR REPLACE INTO settings VALUES ('groups_fingerprint:{MODEL}', '\"old\"')")
    db.commit()
    db.close()
    with Library.open(str(tmp_path / "lib")) as lib:
        assert lib.catalog.meta("schema_version") == "2"
        again = lib.scan([str(root)], model=MODEL)
        cids = sorted({f.content_id for f in lib.catalog.active_files([str(root)], MODEL)})
        _, missing = lib.catalog.load_vectors(MODEL, cids, 1280)
    assert again.stats.embedded == 0 and not missing
    assert _groups(again) == _groups(first)
