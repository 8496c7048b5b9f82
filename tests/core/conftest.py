"""Fixtures for the core tests: a real Milvus server (session scope, skipped when none can start)."""
import pytest

from ..milvus_server import MilvusServer, ServerUnavailable


@pytest.fixture(scope="session")
def milvus_server(tmp_path_factory):
    """URI of a Milvus standalone server started for this session; the test is skipped (with the
    reason printed) when no server can run here."""
    server = MilvusServer(str(tmp_path_factory.mktemp("milvus-server")))
    try:
        uri = server.start()
    except ServerUnavailable as exc:
        print(f"\nmilvus_server: SKIPPED: {exc}")
        pytest.skip(f"Milvus server unavailable: {exc}")
    try:
        yield uri
    finally:
        server.stop()
