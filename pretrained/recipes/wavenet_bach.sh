#!/bin/sh
# Recipe of pretrained/wavenet_bach: an unconditional WaveNet
# (small_unconditional preset) on the same Bach corpus as the SampleRNN.
. "$(dirname "$0")/setup.sh"
STEPS=${STEPS:-20000}
$PY -m pretrained.recipes.render_bach --output_dir=$DATA/bach_wav --num_pieces=110
$PY -m common.prepare --input=$DATA/bach_wav --output_dir=$DATA/bach --chunk_seconds=8 \
    --split_by='(.*)'  # the path-hash split the shipped models were trained with
$PY -m wavenet.train --data_dir=$DATA/bach --model_dir=$RUNS/wavenet_bach \
  --config=small_unconditional --num_steps=$STEPS --checkpoint_every=200 --validate_every=400 --val_batches=8 \
  --set=lr_schedule=piecewise '--set=lr_boundaries=[9800]' '--set=lr_values=[0.001,0.0003]'
$PY -m pretrained.recipes.export --model_dir=$RUNS/wavenet_bach \
  --output_dir=pretrained/wavenet_bach --data_dir=$DATA/bach --overwrite
$PY -m eval.compare --model=wavenet_unconditional=pretrained/wavenet_bach --data_dir=$DATA/bach \
  --report_dir=$RUNS/wavenet_bach_report --seconds=60 --overwrite
