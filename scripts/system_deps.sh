#!/bin/sh
# System packages some parts need, installed only when missing:
#   test: Chromium for the browser tests of the instrument page and report.
# soundfile's wheels bundle libsndfile, so audio needs no system package.
set -e
need_chromium() { ! command -v chromium >/dev/null 2>&1; }
case "$1" in
  test)
    if need_chromium; then
      if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "installing Chromium for the browser tests (apt-get)"
        apt-get update -qq >/dev/null && \
          DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            --no-install-recommends chromium >/dev/null || \
          echo "could not install Chromium: browser tests will say so"
      else
        echo "Chromium not found: install it (e.g. apt-get install chromium) to run the browser tests"
      fi
    fi
    ;;
esac
