#!/bin/sh
# Recipe of pretrained/wavenet_notes: the WaveNet autoencoder (small preset)
# on NSynth-like single notes of 12 GM instruments rendered through FluidR3
# GM; the test split holds out whole instrument-pitches (all velocities).
. "$(dirname "$0")/setup.sh"
STEPS=${STEPS:-20000}
$PY -m pretrained.recipes.render_notes --output_dir=$DATA/notes_wav \
  --programs=0,4,11,19,24,32,40,42,56,65,73,80 --pitches=36-84 --pitch_step=2 --velocities=75,100,127
$PY -m common.prepare --input=$DATA/notes_wav --output_dir=$DATA/notes --chunk_seconds=4 \
  --split_by='(.*)-\d+\.wav$'
$PY -m wavenet.train --data_dir=$DATA/notes --model_dir=$RUNS/wavenet_notes \
  --config=small --num_steps=$STEPS --checkpoint_every=200 --validate_every=400 --val_batches=8 \
  --set=lr_schedule=piecewise '--set=lr_boundaries=[4400,10200]' '--set=lr_values=[0.001,0.0003,0.0001]'
$PY -m pretrained.recipes.export --model_dir=$RUNS/wavenet_notes \
  --output_dir=pretrained/wavenet_notes --data_dir=$DATA/notes --overwrite
$PY -m eval.compare --model=wavenet_autoencoder=pretrained/wavenet_notes --data_dir=$DATA/notes \
  --report_dir=$RUNS/wavenet_notes_report --seconds=12 --overwrite
