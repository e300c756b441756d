#!/usr/bin/env bash
# Make Debian's `chromium` available to tests/test_plots_browser.py; `make test` runs this first.
#
# Why here and not in a CI step: CI runs `bash .ci/run` -> `make test` on a fresh clone, so the
# project's own files must install what its tests need. Only Debian's package (apt-get), and
# only when missing. Where it cannot be installed (not root, no apt-get, apt-get failed) this
# says so and exits 0: the browser test then skips, except under CI=true, where it fails, so a
# CI machine without the browser is reported by the test, not hidden.
#
# Fonts: chromium -> libfontconfig1 -> fontconfig-config pulls fonts-dejavu-core (its first
# font alternative), so chart text renders without asking for a font package here.
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
    exit 0
fi

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-chromium: no chromium, and installing it needs root and apt-get;" \
        "the browser test will be skipped" >&2
    exit 0
fi

echo "ensure-chromium: installing Debian's chromium (apt-get install --no-install-recommends)" >&2
log=$(mktemp)
trap 'rm -f "$log"' EXIT
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium; } \
    >"$log" 2>&1 || ! command -v chromium >/dev/null 2>&1; then
    tail -n 20 "$log" >&2
    echo "ensure-chromium: apt-get could not install chromium (output above);" \
        "the browser test will be skipped (it fails under CI=true)" >&2
fi
exit 0
