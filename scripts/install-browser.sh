#!/usr/bin/env bash
# The headless browser the consent-page tests (tests/e2e/test_consent_page.py) drive, on
# Debian/Ubuntu:
#
#   chromium               the browser (started with --headless by the tests)
#   chromium-driver        /usr/bin/chromedriver, which Selenium talks to (matches chromium)
#   fonts-ipafont-gothic   a Japanese font: without one, a headless screenshot of the page
#                          shows boxes instead of Japanese text (phones and PCs have their own)
#
# Idempotent: installs only what is missing, and does nothing when everything is present.
# Runs as root (no sudo needed); as another user it uses sudo when available.
# Without these packages the browser tests are skipped, with the reason, not failed.
set -euo pipefail

PACKAGES=(
  chromium
  chromium-driver
  fonts-ipafont-gothic
)

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
  echo "install-browser: not a Debian/Ubuntu system (no dpkg/apt-get); install by hand:" >&2
  echo "  ${PACKAGES[*]}" >&2
  exit 1
fi

missing=()
for package in "${PACKAGES[@]}"; do
  status="$(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null || true)"
  if [[ "$status" != "installed" ]]; then
    missing+=("$package")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-browser: already installed: ${PACKAGES[*]}"
  exit 0
fi

if [[ "$(id -u)" -eq 0 ]]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo)
else
  echo "install-browser: missing ${missing[*]}, and not root (no sudo)" >&2
  exit 1
fi

echo "install-browser: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
echo "+ apt-get update"
"${as_root[@]}" apt-get update -qq
echo "+ apt-get install -y --no-install-recommends ${missing[*]}"
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-browser: done ($(chromium --version 2>/dev/null || echo 'chromium: version unknown'))"
