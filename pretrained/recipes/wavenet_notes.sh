#!/bin/sh
# Recipe of pretrained/wavenet_notes: the WaveNet autoencoder (small preset)
# on NSynth-like single notes of 12 GM instruments rendered through FluidR3
# GM; the test split holds out whole instrument-pitches (all velocities).
#
# Six stages, each starting from the best checkpoint of the one before
# (`--init_from`), as the shipped model was made:
#   1. the autoencoder on 4,096-sample windows (best step 11,600);
#   2. 1,024-sample windows, batch 16: less past per window, so the decoder
#      leans on its embedding (best step 5,200);
#   3. + pitch conditioning: each frame's YIN pitch as a two-hot over MIDI
#      24-96 appended to the embedding (the new weights start at zero; best
#      step 3,200);
#   4. + the pitch period input: the decoder also reads its signal one pitch
#      period back, so a note sustains the pitch its embedding says (best
#      step 4,400);
#   5. the same with the pitch tracker that keeps releases and decays voiced
#      (a 2,048-sample YIN window, no level gate; stages 3-4 of the shipped
#      model ran with a 1,024-sample window and a gate at RMS 0.02, so a
#      fresh run already has it there and this stage only trains longer;
#      2,000 steps);
#   6. + input jitter: the decoder trains on codes moved by up to 2, so it
#      learns to continue a past with errors like its own samples; free-
#      running resyntheses stop slipping to other harmonics. Its validation
#      NLL (on clean inputs) rises, so the last step (2,400) is exported,
#      not the best-validation one.
# Since the shipped model was made, training refuses pitch-conditioned windows
# shorter than one whole YIN window (2,304 samples at hop 512; the shipped
# stages 3-6 ran at 1,024, so half of each window's pitch frames read
# padding), and `lr_schedule=constant` really is constant (stages 5-6 ran
# with the default exponential decay, 0.5 per 20,000 steps, i.e. the rate
# fell 7 % over stage 6). This recipe therefore trains the pitch stages on
# 2,304-sample windows and no longer remakes the shipped weights exactly.
# Re-running resumes where it stopped. STEPS=... trains stage 1 longer; then
# remove runs/wavenet_notes_{1024,pitch,period,yin,jitter} to redo the later stages.
. "$(dirname "$0")/setup.sh"
STEPS=${STEPS:-20000}
LOG="--checkpoint_every=200 --validate_every=400 --val_batches=8"
SHORT="--set=batch_size=16 --set=seq_len=1024 --set=lr_schedule=piecewise"
PITCH_WINDOW="--set=batch_size=16 --set=seq_len=2304"
. "$(dirname "$0")/notes_data.sh"
$PY -m wavenet.train --data_dir=$DATA/notes --model_dir=$RUNS/wavenet_notes \
  --config=small --num_steps=$STEPS $LOG \
  --set=lr_schedule=piecewise '--set=lr_boundaries=[4400,10200]' '--set=lr_values=[0.001,0.0003,0.0001]'
$PY -m wavenet.train --data_dir=$DATA/notes --model_dir=$RUNS/wavenet_notes_1024 \
  --config=small --init_from=$RUNS/wavenet_notes --num_steps=5200 $LOG $SHORT \
  '--set=lr_boundaries=[3000]' '--set=lr_values=[0.0003,0.0001]'
$PY -m wavenet.train --data_dir=$DATA/notes --model_dir=$RUNS/wavenet_notes_pitch \
  --config=small --init_from=$RUNS/wavenet_notes_1024 --num_steps=3200 $LOG $PITCH_WINDOW --set=lr_schedule=piecewise \
  --set=pitch_bins=73 '--set=lr_boundaries=[3000]' '--set=lr_values=[0.0005,0.0002]'
$PY -m wavenet.train --data_dir=$DATA/notes --model_dir=$RUNS/wavenet_notes_period \
  --config=small --init_from=$RUNS/wavenet_notes_pitch --num_steps=4400 $LOG $PITCH_WINDOW --set=lr_schedule=piecewise \
  --set=pitch_bins=73 --set=pitch_period_input=true \
  '--set=lr_boundaries=[3000]' '--set=lr_values=[0.0005,0.0002]'
$PY -m wavenet.train --data_dir=$DATA/notes --model_dir=$RUNS/wavenet_notes_yin \
  --config=small --init_from=$RUNS/wavenet_notes_period --num_steps=2000 $LOG \
  $PITCH_WINDOW --set=pitch_bins=73 --set=pitch_period_input=true \
  --set=lr_schedule=constant --set=learning_rate=0.0002
$PY -m wavenet.train --data_dir=$DATA/notes --model_dir=$RUNS/wavenet_notes_jitter \
  --config=small --init_from=$RUNS/wavenet_notes_yin --num_steps=2400 $LOG \
  $PITCH_WINDOW --set=pitch_bins=73 --set=pitch_period_input=true \
  --set=input_jitter=2 --set=lr_schedule=constant --set=learning_rate=0.0002
$PY -m pretrained.recipes.export --model_dir=$RUNS/wavenet_notes_jitter --checkpoint=last \
  --output_dir=pretrained/wavenet_notes --data_dir=$DATA/notes --overwrite
$PY -m eval.compare --model=wavenet_autoencoder=pretrained/wavenet_notes --data_dir=$DATA/notes \
  --report_dir=$RUNS/wavenet_notes_report --clips=32 --overwrite
