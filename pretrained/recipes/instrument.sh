#!/bin/sh
# The playable instrument of issue 8 on the shipped autoencoder: renders the
# four corner instruments (piano, church organ, electric piano, square lead:
# the GM programs whose FluidR3 range covers C2..C6) at 13 pitches, then builds
# a 5 x 5 grid with wavenet.instrument (resumable: re-run to continue).
. "$(dirname "$0")/setup.sh"
OUT=${OUT:-instrument}
CORNERS=""
for pair in piano:0 organ:19 epiano:4 lead:80; do
  name=${pair%%:*}; program=${pair#*:}
  $PY -m pretrained.recipes.render_notes --output_dir=$DATA/corners/$name \
    --programs=$program --pitches=36-84 --pitch_step=4 --velocities=100
  CORNERS="$CORNERS${CORNERS:+,}$DATA/corners/$name"
done
$PY -m wavenet.instrument --model_dir=pretrained/wavenet_notes \
  --corners=$CORNERS --pitches=36,40,...,84 --grid=5 --output_dir=$OUT "$@"
echo "open $OUT/index.html"
