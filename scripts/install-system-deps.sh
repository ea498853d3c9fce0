#!/usr/bin/env bash
# Debian/Ubuntu packages monosub needs outside Python, by group:
#   install-system-deps.sh [pdf] [browser]     (no argument: both)
#
# pdf: document rendering (WeasyPrint) and its PDF tests
#   libpango-1.0-0 libpangoft2-1.0-0   text layout (WeasyPrint >= 53 needs pango >= 1.44)
#   libharfbuzz-subset0                font subsetting; without it renders are 3-40x slower
#   libfontconfig1                     font lookup (fonts themselves are vendored in the repo)
#   poppler-utils                      pdftotext / pdffonts / pdfinfo / pdftoppm for the tests
# browser: the consent-page tests (tests/e2e/test_consent_page.py)
#   chromium chromium-driver           the browser and /usr/bin/chromedriver for Selenium
#   fonts-ipafont-gothic               so headless screenshots show Japanese, not boxes
#
# Idempotent: installs only what is missing, and does nothing when everything is present.
# Runs as root (no sudo needed); as another user it uses sudo when available. Without these
# packages the tests that need them are skipped with the reason, not failed.
set -euo pipefail

PDF=(libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 libfontconfig1 poppler-utils)
BROWSER=(chromium chromium-driver fonts-ipafont-gothic)

groups=("$@")
[[ ${#groups[@]} -eq 0 ]] && groups=(pdf browser)
PACKAGES=()
for group in "${groups[@]}"; do
  case "$group" in
    pdf) PACKAGES+=("${PDF[@]}") ;;
    browser) PACKAGES+=("${BROWSER[@]}") ;;
    *) echo "install-system-deps: unknown group '$group' (pdf, browser)" >&2; exit 2 ;;
  esac
done

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
  echo "install-system-deps: not a Debian/Ubuntu system (no dpkg/apt-get); install by hand:" >&2
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
  echo "install-system-deps: already installed: ${PACKAGES[*]}"
  exit 0
fi

if [[ "$(id -u)" -eq 0 ]]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo)
else
  echo "install-system-deps: missing ${missing[*]}, and not root (no sudo)" >&2
  exit 1
fi

echo "install-system-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
echo "+ apt-get update"
"${as_root[@]}" apt-get update -qq
echo "+ apt-get install -y --no-install-recommends ${missing[*]}"
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-system-deps: done"
