#!/bin/sh
# Recipe of pretrained/samplernn_bach: SampleRNN (small preset) on Bach
# chorales rendered through FluidR3 GM. Same commands as on your own corpus.
# Steps: STEPS=... to train longer; re-running resumes.
. "$(dirname "$0")/setup.sh"
STEPS=${STEPS:-20000}
$PY -m pretrained.recipes.render_bach --output_dir=$DATA/bach_wav --num_pieces=110
$PY -m common.prepare --input=$DATA/bach_wav --output_dir=$DATA/bach --chunk_seconds=8 \
    --split_by='(.*)'  # the path-hash split the shipped models were trained with
$PY -m samplernn.train --data_dir=$DATA/bach --model_dir=$RUNS/samplernn_bach \
  --config=small --num_steps=$STEPS --checkpoint_every=200 --validate_every=400 --val_batches=8 \
  --set=lr_schedule=piecewise '--set=lr_boundaries=[6000,8600]' '--set=lr_values=[0.001,0.0003,0.0001]'
$PY -m pretrained.recipes.export --model_dir=$RUNS/samplernn_bach \
  --output_dir=pretrained/samplernn_bach --data_dir=$DATA/bach --overwrite
$PY -m eval.compare --model=samplernn=pretrained/samplernn_bach --data_dir=$DATA/bach \
  --report_dir=$RUNS/samplernn_bach_report --seconds=60 --num_seqs=8 --overwrite
