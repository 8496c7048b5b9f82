"""Index stage: embeddings in Milvus (Milvus Lite file by default, or a Milvus server by URI).

One collection per model (and per library, so several libraries can share one server), keyed by the
catalog's content id. The same code path serves Milvus Lite and a server. Neighbour search queries
the index in batches (top-k per vector), so grouping costs grow with N*k, never N^2.
"""
from __future__ import annotations

import logging
import re
from typing import Iterable, Optional, Sequence

import numpy as np

from .types import DedupError

log = logging.getLogger(__name__)

#: Index used for the vectors. Chosen by measurement (see README Performance): FLAT is exact and, on
#: Milvus Lite, as fast as the approximate indexes up to ~100k vectors.
DEFAULT_INDEX = {"index_type": "FLAT", "metric_type": "COSINE", "params": {}}

_BATCH = 512


def collection_name(library_id: str, model: str) -> str:
    return "dd_" + re.sub(r"[^0-9a-zA-Z_]", "_", f"{library_id}_{model}")


class VectorIndex:
    """Vectors of one model in one Milvus collection."""

    def __init__(self, uri: str, library_id: str, model: str, dim: int, *, token: str = ""):
        try:
            from pymilvus import MilvusClient
        except ImportError as exc:  # pragma: no cover
            raise DedupError("The vector database client (pymilvus) is not installed.",
                             "Reinstall desktop-dedup.") from exc
        self.uri = uri
        self.model = model
        self.dim = dim
        self.name = collection_name(library_id, model)
        try:
            self.client = MilvusClient(uri=uri, token=token) if token else MilvusClient(uri=uri)
        except Exception as exc:
            raise DedupError(f"Cannot open the vector database at {uri}: {exc}",
                             "Check the Milvus URI (server running?) or the library folder.") from exc
        self._ensure_collection()

    def _ensure_collection(self) -> None:
        from pymilvus import DataType

        c = self.client
        if c.has_collection(self.name):
            desc = c.describe_collection(self.name)
            for f in desc.get("fields", []):
                if f.get("name") == "vector":
                    dim = int(f.get("params", {}).get("dim", self.dim))
                    if dim != self.dim:
                        raise DedupError(f"The vector collection {self.name} has dimension {dim}, expected {self.dim}.",
                                         "The library was built with a different model version; use a new library.")
            c.load_collection(self.name)
            return
        schema = c.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=self.dim)
        index = c.prepare_index_params()
        index.add_index(field_name="vector", **DEFAULT_INDEX)
        c.create_collection(self.name, schema=schema, index_params=index, consistency_level="Strong")
        c.load_collection(self.name)

    # -- writes ----------------------------------------------------------------------------------
    def upsert(self, ids: Sequence[int], vectors: np.ndarray) -> None:
        """Insert or replace vectors (idempotent, so a resumed run can never store one twice)."""
        if len(ids) == 0:
            return
        vectors = np.asarray(vectors, dtype=np.float32)
        for i in range(0, len(ids), _BATCH):
            rows = [{"id": int(k), "vector": v.tolist()} for k, v in zip(ids[i:i + _BATCH], vectors[i:i + _BATCH])]
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
        params = {"metric_type": "COSINE", "params": {}}
        for i in range(0, len(vectors), 256):
            chunk = vectors[i:i + 256]
            hits = self.client.search(self.name, data=[v.tolist() for v in chunk], limit=k,
                                      search_params=params, output_fields=[])
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
