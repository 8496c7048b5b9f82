#!/usr/bin/env bash
# Sign, package and notarise the macOS app:  make_dmg.sh "build/package/dist/Desktop Dedup.app" OUT.dmg
#
# Identity and credentials come from the environment (nothing is stored in the repo):
#   MACOS_SIGN_IDENTITY   "Developer ID Application: Name (TEAMID)" in the keychain; unset = ad-hoc signature
#                         (runs on the build machine only; Gatekeeper blocks it elsewhere)
#   notarisation, when MACOS_SIGN_IDENTITY is set and either is given:
#   MACOS_NOTARY_PROFILE  a `xcrun notarytool store-credentials` profile name, or
#   APPLE_ID + APPLE_TEAM_ID + APPLE_APP_PASSWORD (an app-specific password)
set -euo pipefail
APP="$1"; DMG="$2"
[ -d "$APP" ] || { echo "no app bundle at $APP" >&2; exit 1; }
HERE="$(cd "$(dirname "$0")" && pwd)"
ENT="$HERE/entitlements.plist"
IDENTITY="${MACOS_SIGN_IDENTITY:--}"

sign() { codesign --force --timestamp --options runtime --entitlements "$ENT" --sign "$IDENTITY" "$@"; }
if [ "$IDENTITY" = "-" ]; then
  echo "MACOS_SIGN_IDENTITY not set: ad-hoc signing, no notarisation" >&2
  sign() { codesign --force --sign - "$@"; }
fi

# inside-out: every Mach-O library and executable, then the bundle itself
find "$APP/Contents" -type f \( -name "*.dylib" -o -name "*.so" -o -perm -111 \) -print0 |
  while IFS= read -r -d '' f; do
    if file -b "$f" | grep -q "Mach-O"; then sign "$f"; fi
  done
sign "$APP"
codesign --verify --deep --strict --verbose=2 "$APP"

# DMG: the app plus an Applications link to drag it onto
STAGE="$(mktemp -d)"
trap 'rm -rf "$STAGE"' EXIT
cp -R "$APP" "$STAGE/"
ln -s /Applications "$STAGE/Applications"
rm -f "$DMG"
hdiutil create -volname "Desktop Dedup" -srcfolder "$STAGE" -fs HFS+ -format UDZO -imagekey zlib-level=9 "$DMG"
[ "$IDENTITY" = "-" ] || codesign --force --timestamp --sign "$IDENTITY" "$DMG"

if [ "$IDENTITY" != "-" ]; then
  if [ -n "${MACOS_NOTARY_PROFILE:-}" ]; then
    xcrun notarytool submit "$DMG" --keychain-profile "$MACOS_NOTARY_PROFILE" --wait
  elif [ -n "${APPLE_ID:-}" ] && [ -n "${APPLE_TEAM_ID:-}" ] && [ -n "${APPLE_APP_PASSWORD:-}" ]; then
    xcrun notarytool submit "$DMG" --apple-id "$APPLE_ID" --team-id "$APPLE_TEAM_ID" \
      --password "$APPLE_APP_PASSWORD" --wait
  else
    echo "no notarisation credentials (MACOS_NOTARY_PROFILE or APPLE_ID/APPLE_TEAM_ID/APPLE_APP_PASSWORD): skipped" >&2
    exit 0
  fi
  xcrun stapler staple "$DMG"
  xcrun stapler validate "$DMG"
  spctl --assess --type open --context context:primary-signature --verbose "$DMG" || true
fi
echo "wrote $DMG"
