"""Index stage: embeddings in Milvus (Milvus Lite file by default, or a Milvus server by URI).

One collection per model (and per library, so several libraries can share one server), keyed by the
catalog's content id. The same code path serves Milvus Lite and a server (tested against Milvus
2.3.5 standalone). Neighbour search queries the index in batches (top-k per vector), so grouping
costs grow with N*k, never N^2.

Index choice (measured, see `desktop-dedup bench scale`): a Milvus server gets HNSW; Milvus Lite gets
FLAT (its HNSW costs minutes of build CPU during scans and searches no faster in-process). The
grouping pass over *all* vectors does not query Milvus Lite at all (Library._neighbours + knn.py, on
the catalog's float16 copies): Lite runs in-process in Python, ~6 s per 1024 top-25 queries at 100k
vectors, and opening a 100k collection alone costs ~1.7 GB. On a server the pass uses `search`.
When a backend refuses an index type, FLAT is used.
"""
from __future__ import annotations

import logging
import os
import re
from typing import Iterable, Optional, Sequence

import numpy as np

from .types import DedupError

log = logging.getLogger(__name__)
# Milvus Lite answers an RPC that pymilvus 3 probes (AllocTimestamp) with "not implemented" and grpc logs
# it as an error with a traceback; it is harmless, so keep it out of the user's console.
logging.getLogger("grpc._server").setLevel(logging.CRITICAL)

#: Index definitions by type (COSINE on L2-normalised embeddings).
INDEXES = {
    "HNSW": {"index_type": "HNSW", "metric_type": "COSINE", "params": {"M": 16, "efConstruction": 128}},
    "FLAT": {"index_type": "FLAT", "metric_type": "COSINE", "params": {}},
    "IVF_FLAT": {"index_type": "IVF_FLAT", "metric_type": "COSINE", "params": {"nlist": 256}},
}
#: Search-time parameters per index type (HNSW ef is raised to at least k).
SEARCH_PARAMS = {"HNSW": {"ef": 64}, "FLAT": {}, "IVF_FLAT": {"nprobe": 16}}
#: Index used for new collections (server, Milvus Lite); `DESKTOP_DEDUP_INDEX` overrides it (benchmarks).
DEFAULT_INDEX_TYPE = "HNSW"
DEFAULT_LITE_INDEX_TYPE = "FLAT"
#: Kept for callers of the first version.
DEFAULT_INDEX = INDEXES[DEFAULT_INDEX_TYPE]

_BATCH = 512         # rows per upsert / delete / query call
#: Query vectors per search call. Milvus Lite pays a per-call cost proportional to the collection size
#: (it rebuilds its row-validity masks in Python), so large batches keep the all-vectors neighbour
#: pass linear; 1024 x 2048-d float32 = 8 MiB per request, under gRPC's limits.
SEARCH_BATCH = 1024


def collection_name(library_id: str, model: str) -> str:
    return "dd_" + re.sub(r"[^0-9a-zA-Z_]", "_", f"{library_id}_{model}")


def is_lite(uri: str) -> bool:
    """A file path (Milvus Lite) rather than a server address."""
    return not re.match(r"^[a-z][a-z0-9+.-]*://", uri, re.I)


def _index_type(name: Optional[str], lite: bool = False) -> str:
    name = (name or os.environ.get("DESKTOP_DEDUP_INDEX")
            or (DEFAULT_LITE_INDEX_TYPE if lite else DEFAULT_INDEX_TYPE)).upper()
    if name not in INDEXES:
        raise DedupError(f"Unknown vector index type {name!r}.", f"Choose one of: {', '.join(INDEXES)}.")
    return name


class VectorIndex:
    """Vectors of one model in one Milvus collection."""

    def __init__(self, uri: str, library_id: str, model: str, dim: int, *, token: str = "",
                 index_type: Optional[str] = None):
        try:
            from pymilvus import MilvusClient
        except ImportError as exc:  # pragma: no cover
            raise DedupError("The vector database client (pymilvus) is not installed.",
                             "Reinstall desktop-dedup.") from exc
        self.uri = uri
        self.model = model
        self.dim = dim
        self.name = collection_name(library_id, model)
        self.lite = is_lite(uri)
        self.index_type = _index_type(index_type, self.lite)
        try:
            self.client = MilvusClient(uri=uri, token=token) if token else MilvusClient(uri=uri)
        except Exception as exc:
            raise DedupError(f"Cannot open the vector database at {uri}: {exc}",
                             "Check the Milvus URI (server running?) or the library folder.") from exc
        self._ensure_collection()

    def _ensure_collection(self) -> None:
        c = self.client
        if c.has_collection(self.name):
            desc = c.describe_collection(self.name)
            for f in desc.get("fields", []):
                if f.get("name") == "vector":
                    dim = int(f.get("params", {}).get("dim", self.dim))
                    if dim != self.dim:
                        raise DedupError(f"The vector collection {self.name} has dimension {dim}, expected {self.dim}.",
                                         "The library was built with a different model version; use a new library.")
            self.index_type = self._stored_index_type() or self.index_type
            c.load_collection(self.name)
            return
        try:
            self._create(self.index_type)
        except Exception as exc:  # a backend without this index type: exact search still works
            if self.index_type == "FLAT":
                raise
            log.warning("index %s not available on %s (%s); using FLAT", self.index_type, self.uri, exc)
            if c.has_collection(self.name):
                c.drop_collection(self.name)
            self.index_type = "FLAT"
            self._create("FLAT")
        c.load_collection(self.name)

    def _create(self, index_type: str) -> None:
        from pymilvus import DataType

        c = self.client
        schema = c.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=self.dim)
        index = c.prepare_index_params()
        index.add_index(field_name="vector", **INDEXES[index_type])
        c.create_collection(self.name, schema=schema, index_params=index, consistency_level="Strong")

    def _stored_index_type(self) -> Optional[str]:
        """The index type of an existing collection (None when it cannot be told)."""
        try:
            for name in self.client.list_indexes(self.name) or []:
                t = str(self.client.describe_index(self.name, name).get("index_type", "")).upper()
                if t:
                    return t
        except Exception as exc:  # older servers / Lite versions: search with defaults
            log.debug("describe_index failed: %s", exc)
        return None

    def _search_params(self, k: int) -> dict:
        params = dict(SEARCH_PARAMS.get(self.index_type, {}))
        if "ef" in params:
            params["ef"] = max(params["ef"], k)
        return {"metric_type": "COSINE", "params": params}

    # -- writes ----------------------------------------------------------------------------------
    def upsert(self, ids: Sequence[int], vectors: np.ndarray) -> None:
        """Insert or replace vectors (idempotent, so a resumed run can never store one twice)."""
        if len(ids) == 0:
            return
        vectors = np.asarray(vectors, dtype=np.float32)
        ids = [int(k) for k in ids]
        for i in range(0, len(ids), _BATCH):
            rows = [{"id": k, "vector": v} for k, v in zip(ids[i:i + _BATCH], vectors[i:i + _BATCH].tolist())]
            self.client.upsert(self.name, rows)

    def delete(self, ids: Iterable[int]) -> None:
        ids = [int(i) for i in ids]
        for i in range(0, len(ids), _BATCH):
            self.client.delete(self.name, ids=ids[i:i + _BATCH])

    def flush(self) -> None:
        try:
            self.client.flush(self.name)
        except Exception:  # Milvus Lite persists without an explicit flush on some versions
            pass

    # -- reads -----------------------------------------------------------------------------------
    def existing(self, ids: Iterable[int]) -> set[int]:
        """Which of `ids` are stored."""
        ids = [int(i) for i in ids]
        found: set[int] = set()
        for i in range(0, len(ids), _BATCH):
            chunk = ids[i:i + _BATCH]
            rows = self.client.query(self.name, filter=f"id in {chunk}", output_fields=["id"])
            found.update(int(r["id"]) for r in rows)
        return found

    def all_ids(self) -> set[int]:
        out: set[int] = set()
        it = self.client.query_iterator(self.name, batch_size=4096, filter="id >= 0", output_fields=["id"])
        try:
            while True:
                page = it.next()
                if not page:
                    break
                out.update(int(r["id"]) for r in page)
        finally:
            it.close()
        return out

    def count(self) -> int:
        rows = self.client.query(self.name, filter="", output_fields=["count(*)"])
        return int(rows[0]["count(*)"]) if rows else 0

    def get(self, ids: Sequence[int]) -> dict[int, np.ndarray]:
        """Stored vectors by id."""
        out: dict[int, np.ndarray] = {}
        ids = [int(i) for i in ids]
        for i in range(0, len(ids), _BATCH):
            rows = self.client.get(self.name, ids=ids[i:i + _BATCH], output_fields=["vector"])
            for r in rows:
                out[int(r["id"])] = np.asarray(r["vector"], dtype=np.float32)
        return out

    def search(self, vectors: np.ndarray, k: int, *, floor: Optional[float] = None,
               restrict: Optional[set[int]] = None) -> list[list[tuple[int, float]]]:
        """Top-k neighbours (id, cosine) of each vector, best first, optionally above `floor`."""
        vectors = np.asarray(vectors, dtype=np.float32)
        results: list[list[tuple[int, float]]] = []
        params = self._search_params(k)
        for i in range(0, len(vectors), SEARCH_BATCH):
            chunk = vectors[i:i + SEARCH_BATCH]
            # output_fields=["id"]: with [] Milvus Lite returns every hit's vector (20x slower)
            hits = self.client.search(self.name, data=chunk.tolist(), limit=k,
                                      search_params=params, output_fields=["id"])
            for row in hits:
                out = []
                for h in row:
                    hid = int(h["id"])
                    score = float(h["distance"])
                    if floor is not None and score < floor:
                        continue
                    if restrict is not None and hid not in restrict:
                        continue
                    out.append((hid, score))
                results.append(out)
        return results

    def close(self) -> None:
        try:
            self.client.close()
        except Exception:
            pass

