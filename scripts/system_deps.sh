#!/bin/sh
# System packages some parts need, installed only when missing:
#   test: Chromium for the browser tests of the instrument page, the report
#   and the live page; PortAudio for the sound-card output of the live
#   stream (tested on ALSA's null device, so no sound card is needed);
#   PostgreSQL for the shared-study test of the hyperparameter search (the
#   test starts its own server in a temporary folder with the programs of
#   Debian's package, /usr/lib/postgresql/<version>/bin).
# soundfile's wheels bundle libsndfile, so audio needs no system package.
set -e
need_chromium() { ! command -v chromium >/dev/null 2>&1; }
need_portaudio() { ! ldconfig -p 2>/dev/null | grep -q libportaudio.so.2; }
need_postgresql() {
  ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 &&
    ! command -v pg_ctl >/dev/null 2>&1
}
case "$1" in
  test)
    missing=""
    if need_chromium; then missing="chromium"; fi
    if need_portaudio; then missing="$missing libportaudio2"; fi
    if need_postgresql; then missing="$missing postgresql"; fi
    if [ -n "$missing" ]; then
      if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "installing$missing for the tests (apt-get)"
        apt-get update -qq >/dev/null && \
          DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            --no-install-recommends $missing >/dev/null || \
          echo "could not install$missing: the tests that need them will say so"
      else
        echo "not found:$missing; install them (e.g. apt-get install$missing) to run the browser, sound-device and PostgreSQL tests"
      fi
    fi
    ;;
esac
