#!/usr/bin/env bash
# The headless browser for the consent-page tests: see install-system-deps.sh (group browser).
exec bash "$(dirname "$0")/install-system-deps.sh" browser
