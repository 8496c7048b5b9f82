# Sourced by .ci/run: installs the Milvus server launcher for the integration test.
# --- Milvus server for the `milvus_server` tests (tests/core/test_milvus_server.py) -----------------
# The PyPI package `milvus` 2.3.5 ships `milvus-server` (Milvus standalone + embedded etcd, ~58 MB
# wheel, no dependencies). It goes into its own venv so it can never clash with pymilvus 3.x /
# milvus-lite in the project venv. The test fixture starts/stops the server itself (free port,
# temp data dir, own process group); without the launcher the two tests are SKIPPED, not failed.
# Needs: python3 (3.8+), ~400 MB free in /tmp while the server runs, ~15-40 s to start.
MILVUS_VENV=/tmp/milvus-venv
if [ ! -x "$MILVUS_VENV/bin/milvus-server" ]; then
    python3 -m venv "$MILVUS_VENV" \
    && "$MILVUS_VENV/bin/pip" install --quiet --disable-pip-version-check "milvus==2.3.5" \
    || echo "ci: milvus-server unavailable; milvus_server tests will be skipped" >&2
fi
export DESKTOP_DEDUP_MILVUS_SERVER="$MILVUS_VENV/bin/milvus-server"
# run them explicitly (they are also part of the plain `pytest` run):
#   pytest -m milvus_server -rs tests/core/test_milvus_server.py
