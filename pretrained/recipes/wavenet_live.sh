#!/bin/sh
# Recipe of pretrained/wavenet_live: the `live` preset, a faster decoder for
# the live instrument (`wavenet.live`). The shipped autoencoder
# (pretrained/wavenet_notes) with its decoder cut to its first 6 layers
# (dilations 1..32: a receptive field of 127 samples; the period input
# brings the sample one pitch period back, however long the period),
# fine-tuned on the same notes corpus in two steps: first to 10 layers
# (one dilation cycle), then from that to 6. `--init_from` keeps the first
# layers of a deeper source, and the encoder, pitch inputs and output stack.
# A third of the shipped decoder's layers; see pretrained/README.md for its
# figures. Re-running resumes where it stopped.
. "$(dirname "$0")/setup.sh"
. "$(dirname "$0")/notes_data.sh"
$PY -m wavenet.train --data_dir=$DATA/notes --model_dir=$RUNS/wavenet_live10 \
  --config=live --init_from=pretrained/wavenet_notes --set=num_layers=10 \
  --num_steps=2000 --set=lr_boundaries=[1600] --set=validate_every=400 \
  --val_batches=8
$PY -m wavenet.train --data_dir=$DATA/notes --model_dir=$RUNS/wavenet_live \
  --config=live --init_from=$RUNS/wavenet_live10 --val_batches=8
$PY -m pretrained.recipes.export --model_dir=$RUNS/wavenet_live --checkpoint=best \
  --output_dir=pretrained/wavenet_live --data_dir=$DATA/notes --overwrite
$PY -m eval.compare --model=wavenet_autoencoder=pretrained/wavenet_live --data_dir=$DATA/notes \
  --report_dir=$RUNS/wavenet_live_report --clips=32 --overwrite
