# The notes corpus of the autoencoder recipes (sourced after setup.sh):
# NSynth-like single notes of 12 GM instruments rendered through FluidR3 GM,
# prepared into $DATA/notes; the test split holds out whole instrument-pitches
# (all velocities). Both steps skip what is already there.
$PY -m pretrained.recipes.render_notes --output_dir=$DATA/notes_wav \
  --programs=0,4,11,19,24,32,40,42,56,65,73,80 --pitches=36-84 --pitch_step=2 --velocities=75,100,127
if ! [ -e $DATA/notes/manifest.json ]; then
  $PY -m common.prepare --input=$DATA/notes_wav --output_dir=$DATA/notes --chunk_seconds=4 \
    --split_by='(.*)-\d+\.wav$'
fi
