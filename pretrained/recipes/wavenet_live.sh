#!/bin/sh
# Recipe of pretrained/wavenet_live: the `live` preset, a faster decoder for
# the live instrument (`wavenet.live`). The shipped autoencoder
# (pretrained/wavenet_notes) with its decoder cut to its first 10 layers
# (one dilation cycle, 1..512: a receptive field of 2,047 samples, still
# more than the longest pitch period), fine-tuned on the same notes corpus:
# its encoder, pitch inputs and output stack start as the shipped model's
# (`--init_from` keeps the first layers of a deeper source). Half the
# decoder's work per sample; see pretrained/README.md for its figures.
# Re-running resumes where it stopped; STEPS=... trains longer.
. "$(dirname "$0")/setup.sh"
. "$(dirname "$0")/notes_data.sh"
STEPS=${STEPS:-2000}
$PY -m wavenet.train --data_dir=$DATA/notes --model_dir=$RUNS/wavenet_live \
  --config=live --init_from=pretrained/wavenet_notes --num_steps=$STEPS \
  --val_batches=8
$PY -m pretrained.recipes.export --model_dir=$RUNS/wavenet_live --checkpoint=best \
  --output_dir=pretrained/wavenet_live --data_dir=$DATA/notes --overwrite
$PY -m eval.compare --model=wavenet_autoencoder=pretrained/wavenet_live --data_dir=$DATA/notes \
  --report_dir=$RUNS/wavenet_live_report --clips=32 --overwrite
