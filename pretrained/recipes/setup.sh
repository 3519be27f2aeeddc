# Shared set-up of the recipes (sourced): the package in .venv, the recipe
# extras (music21, pyfluidsynth) and Debian's fluidsynth + FluidR3 soundfont.
set -eu
cd "$(dirname "$0")/../.."
make install
.venv/bin/python -m pip install -q -e '.[recipes]'
if ! [ -e /usr/share/sounds/sf2/FluidR3_GM.sf2 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y \
      -qq --no-install-recommends fluidsynth fluid-soundfont-gm
  else
    echo "please install fluidsynth and fluid-soundfont-gm (Debian/Ubuntu)"
    exit 1
  fi
fi
PY=.venv/bin/python
DATA=${DATA:-data}
RUNS=${RUNS:-runs}
