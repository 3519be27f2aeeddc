r"""Latent-space tools of the NSynth instruments: `python -m wavenet.latent`.

    python -m wavenet.latent interpolate A B --steps=5 ...
    python -m wavenet.latent grid A B C D --grid=3 [--pitches=48,60,72] ...
    python -m wavenet.latent multigrid F1 ... F9 --layout=2x2 [--resolution=3]
    python -m wavenet.latent scale A --factor=0.5,1.5 ...
    python -m wavenet.latent caricature A --factor=2 --stats=mean.npz ...
    python -m wavenet.latent mean --data_dir=PREPARED --output=mean.npz ...
    python -m wavenet.latent noise A --sigma=0.5,1 --stats=mean.npz ...
    python -m wavenet.latent oscillate A B --hz=1 ...
    python -m wavenet.latent analogy A B C ...
    common: --model_dir=DIR --output_dir=OUT [--align=crop|pad|stretch
            --pitch=MIDI --seed=K --temperature=T or T1,T2,...
            --batch_size=8 --checkpoint=best --name=NAME --overwrite]

A, B, C, D, Fi are audio files (encoded first with the model, at its sample
rate) or `.npy` embeddings from `wavenet.encode`. Each command decodes its
embeddings through the generator interface (`common.generator`; output `i`
samples with the seed `--seed + i`, in any batch) and writes
`OUT/<name>_<i>.wav` (name defaults to the command; `<name>_p<pitch>_<i>`
with `--pitches`) plus `OUT/<name>.json` describing what was made: inputs,
formula, parameters, alignment and one entry per output (its file,
parameters, weights, frames, samples, seed and temperature: with the same
embeddings, `wavenet.synthesize --seed=<its seed> --temperature=<its
temperature>` re-makes it). `mean` writes a `.npz` of the
corpus's mean and std embedding (and a `.json` beside it).

Embeddings are NumPy float32 `[frames, d]` (d = the embedding width) at
`sample_rate / hop_length` frames per second; a result of `frames` frames
decodes to `frames * hop_length` samples.

Formulas (after the NSynth paper, its instruments and the "Making a
Neural Synthesizer Instrument" post):

- interpolate: `z = (1 - a) zA + a zB`, `a` in `linspace(0, 1, steps)`;
  beside each output the plain audio mix `(1 - a) xA + a xB` (when A and B
  are audio; each cut or zero-padded to the output length) for comparison.
- scale: `z = F zA`.
- caricature: `z = mean + F (zA - mean)` (exaggerates what sets A apart from
  the average sound; stats from `mean`).
- noise: `z = mean + std ((zA - mean) / std + N(0, sigma))`, i.e.
  `zA + std N(0, sigma)`: noise of `sigma` corpus standard deviations. The
  draws depend on `--seed` only, so a sigma sweep moves along one direction.
- oscillate: `z(t) = (1 - a(t)) zA + a(t) zB`, `a(t) = (1 - cos(2 pi hz t))
  / 2` with `t = frame / frame_rate` in seconds: starts at A, reaches B
  after `1 / (2 hz)` s.
- analogy: `z = zC + (zB - zA)` ("A is to B as C is to ?").
- grid: the NSynth Super grid. Corners in the order top-left A, top-right
  B, bottom-left C, bottom-right D; a point `(x, y)` in the unit square
  (x rightwards, y downwards) mixes them with the bilinear weights
  `((1-x)(1-y), x(1-y), (1-x)y, xy)`; `--grid=G` renders G x G points,
  row-major from the top-left.
- multigrid: n <= 64 instruments on the vertices of a `(rows + 1) x (cols +
  1)` lattice of `rows x cols` squares (`--layout=RxC`; 9 instruments ->
  2x2 squares sharing edges), listed row-major; each square is rendered at
  `--resolution` points per edge (shared edges once) and every point mixes
  the 4 corners of its square bilinearly.

Pitch (models with pitch conditioning, `pitch_bins > 0`): a frame is
`[timbre | pitch]`, the learned values then the frame's pitch as a two-hot
over semitones (`wavenet.pitch.two_hot`; all zeros when unvoiced). The
formulas above act on the timbre only. The pitch is never scaled, noised or
blended (0.4 times a two-hot, or half of two two-hots, is no pitch: the
decoder would play an unvoiced or ambiguous note); each output keeps a whole
two-hot (`PITCH_RULES`): scale, caricature and noise keep A's; analogy keeps
C's; interpolate, oscillate, grid and multigrid take, frame by frame, the
pitch of the input with the largest weight (the nearest corner; A while
`a <= 0.5`; on a tie the first in corner order), voicing included.
`--pitch=P` (MIDI, fractional allowed, within the model's bins) then sets
every voiced frame of every output to pitch P; unvoiced frames stay
unvoiced.

Alignment of inputs of different lengths (`--align`, default "crop"):

- "crop": every input is cut to the shortest (the common part).
- "pad": every input is extended to the longest by repeating its last frame
  (edge padding: a note's tail is held).
- "stretch": every input is linearly interpolated in time to the longest
  (first and last frames kept), changing its duration, not its pitch (a
  pitch-conditioned frame takes the pitch of the nearer input frame).

The library: `wavenet.latent_ops` (the embedding maths: alignment, pitch,
formulas, grids), `wavenet.latent_commands` (the command table and
`run_command`), `wavenet.latent_stats` (`mean`). The playable instrument
(`wavenet.instrument`) uses `latent_ops.nearest_grid_points`: a touch at
`(x, y)` mixes the 4 nearest rendered grid points with bilinear weights.
"""

from __future__ import annotations

import os
import sys

from common import generator
from wavenet import embeddings
from wavenet import latent_commands
from wavenet import latent_ops
from wavenet.latent_commands import COMMAND_NAMES, DEFAULTS


def _define_flags() -> None:
  from absl import flags  # pylint: disable=g-import-not-at-top
  flags.DEFINE_string("model_dir", None, "A trained WaveNet autoencoder.")
  flags.DEFINE_string("output_dir", None, "Where the wavs and JSON go.")
  flags.DEFINE_integer("steps", DEFAULTS["steps"], "interpolate: points "
                       "from a=0 to a=1.")
  flags.DEFINE_integer("grid", DEFAULTS["grid"], "grid: points per side.")
  flags.DEFINE_string("layout", None, "multigrid: RxC squares (default: "
                      "square, from the number of inputs).")
  flags.DEFINE_integer("resolution", DEFAULTS["resolution"], "multigrid: "
                       "points per square edge, ends included.")
  flags.DEFINE_string("pitches", None, "grid/multigrid: MIDI pitches "
                      "P1,P2,...; every input path holds {pitch}.")
  flags.DEFINE_float("pitch", None, "Pitch-conditioned models: play every "
                     "output at this MIDI pitch (fractional allowed) instead "
                     "of the pitch its command keeps; unvoiced frames stay "
                     "unvoiced.")
  flags.DEFINE_string("factor", DEFAULTS["factor"], "scale/caricature: F or "
                      "F1,F2,... (one output each).")
  flags.DEFINE_string("sigma", DEFAULTS["sigma"], "noise: sigma(s) in "
                      "corpus standard deviations.")
  flags.DEFINE_string("hz", DEFAULTS["hz"], "oscillate: frequency(ies) in "
                      "Hz.")
  flags.DEFINE_string("stats", None, "caricature/noise: mean.npz from the "
                      "mean command.")
  flags.DEFINE_enum("align", "crop", list(latent_ops.ALIGN_MODES),
                    "Inputs of different lengths: crop to the shortest, pad "
                    "(repeat the last frame) or stretch to the longest.")
  flags.DEFINE_string("data_dir", None, "mean: a prepared corpus.")
  flags.DEFINE_string("split", "train", "mean: corpus split.")
  flags.DEFINE_integer("max_files", None, "mean: at most this many files.")
  flags.DEFINE_string("output", None, "mean: the .npz to write.")
  flags.DEFINE_integer("seed", 0, "Sampling seed: output i uses seed + i; "
                       "also the noise draws.")
  flags.DEFINE_string("temperature", "1.0", "Sampling temperature, or one "
                      "per output: T1,T2,...")
  flags.DEFINE_integer("batch_size", 8, "Outputs generated together.")
  flags.DEFINE_string("checkpoint", "best", "best, last, or a checkpoint "
                      "path prefix.")
  flags.DEFINE_string("name", None, "Output names <name>_<i>.wav, "
                      "<name>.json (default: the command).")
  flags.DEFINE_boolean("overwrite", False, "Replace existing outputs.")
  flags.mark_flags_as_required(["model_dir"])


def main(argv: list[str]) -> int:
  from absl import flags  # pylint: disable=g-import-not-at-top
  f = flags.FLAGS
  if len(argv) < 2:
    print(f"error: give a command: {', '.join(COMMAND_NAMES)} (see --help)",
          file=sys.stderr)
    return 1
  command, args = argv[1], argv[2:]
  options = {k: getattr(f, k) for k in DEFAULTS if k != "progress"}
  info = latent_commands.run_command(command, args, f.model_dir,
                                     f.output_dir, **options)
  if command == latent_commands.MEAN:
    print(info["output"])
  else:
    for entry in info["outputs"]:
      print(os.path.join(f.output_dir, entry["file"]))
    print(os.path.join(f.output_dir, f"{f.name or command}.json"))
  return 0


def run() -> None:
  """Console-script entry point (`wavenet-latent`)."""
  from common import cli  # pylint: disable=g-import-not-at-top
  cli.run(main, _define_flags, __doc__,
          user_errors=(latent_ops.LatentError, embeddings.EmbeddingsError,
                       generator.RequestError))


if __name__ == "__main__":
  run()
