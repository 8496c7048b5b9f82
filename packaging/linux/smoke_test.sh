#!/usr/bin/env bash
# Smoke-test a built .deb without installing it system-wide:
#   bash packaging/linux/smoke_test.sh build/package/installer/desktop-dedup_0.1.0_amd64.deb [WORKDIR]
# Extracts the package (dpkg-deb -x) into a clean folder, checks its layout, then runs the installed
# binary headless with a scrubbed environment (packaging/smoke_test.py): --version, scan with the offline
# model (expected groups), rescan (reuse), gui --screenshot. Runs without network when unshare is allowed.
set -euo pipefail
DEB="$(readlink -f "$1")"
WORK="${2:-$(mktemp -d /tmp/dd-deb-smoke.XXXXXX)}"
HERE="$(cd "$(dirname "$0")/.." && pwd)"
PY="${PYTHON:-python3}"
[ -x "$HERE/../.venv/bin/python" ] && [ -z "${PYTHON:-}" ] && PY="$HERE/../.venv/bin/python"
rm -rf "$WORK/root"; mkdir -p "$WORK/root"
echo "== package: $DEB ($(du -h "$DEB" | cut -f1))"
dpkg-deb --info "$DEB" | sed -n '/Package:/,/Description:/p'
dpkg-deb -x "$DEB" "$WORK/root"
R="$WORK/root"
test -x "$R/opt/desktop-dedup/desktop-dedup"
test "$(readlink "$R/usr/bin/desktop-dedup")" = "/opt/desktop-dedup/desktop-dedup"
test -f "$R/usr/share/applications/desktop-dedup.desktop"
grep -q '^Exec=desktop-dedup' "$R/usr/share/applications/desktop-dedup.desktop"
ls "$R"/opt/desktop-dedup/_internal/weights/*.onnx
if command -v desktop-file-validate >/dev/null; then desktop-file-validate "$R/usr/share/applications/desktop-dedup.desktop"; fi
echo "== installed size: $(du -sh "$R" | cut -f1)"
NONET=()
if unshare --net true 2>/dev/null; then NONET=(--no-network); fi
"$PY" "$HERE/smoke_test.py" --exe "$R/opt/desktop-dedup/desktop-dedup" "${NONET[@]}" --work "$WORK/run" \
    --report "$WORK/smoke.json"
