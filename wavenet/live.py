r"""The NSynth instrument decoded live: `python -m wavenet.live`.

    python -m wavenet.live --model_dir=pretrained/wavenet_live \
        --corners=piano/,organ/,epiano/,lead/ [--port=8000]
    # open http://127.0.0.1:8000/ and play (keys A W S E D ..., MIDI, the pad)

Nothing is pre-rendered: each key decodes, block by block, the embedding
mixed from the four corners at the pad's position (bilinear weights), at
the key's pitch through pitch conditioning, held while the key is down and
released on key-up; up to 4 voices; scale, caricature, noise and an
oscillation between two corners act on the mixed embedding. Corners are as
for `wavenet.instrument` (files, or folders of one note per pitch; a key
uses each corner's note at the nearest of `--pitches`). Listens on
127.0.0.1 unless `--host` says otherwise; Ctrl-C or SIGTERM stops it. All
the work is in `wavenet.live_server` (server), `wavenet.live_engine`
(voices, pacing) and `wavenet.live_sound` (the embedding maths).
"""

from __future__ import annotations

import sys


def _define_flags() -> None:
  from absl import flags  # pylint: disable=g-import-not-at-top
  from common import threads  # pylint: disable=g-import-not-at-top
  from wavenet import live_engine  # pylint: disable=g-import-not-at-top
  flags.DEFINE_string("model_dir", None, "A WaveNet autoencoder with pitch "
                      "conditioning (pretrained/wavenet_live: the shipped one "
                      "cut to 6 decoder layers for four voices).")
  flags.DEFINE_list("corners", None, "4 sound files or folders: top-left, "
                    "top-right, bottom-left, bottom-right (as for "
                    "wavenet.instrument).")
  flags.DEFINE_string("pitches", "60", "MIDI notes to take the corners' "
                      "notes at (60,64,67 or 36,40,...,84); a key uses the "
                      "nearest.")
  flags.DEFINE_string("host", "127.0.0.1", "Address to listen on (another "
                      "than the loopback: anyone on the network can play).")
  flags.DEFINE_integer("port", 8000, "Port (0: any free one).")
  flags.DEFINE_float("seconds", 4.0, "Length of the corner notes used.")
  flags.DEFINE_float("note_off", 3.0, "Where the corner notes' release "
                     "starts (s); the frame before it is held while a key "
                     "is down.")
  flags.DEFINE_string("stats", None, "mean/std .npz (wavenet.latent mean) "
                      "for caricature and noise; default: the corners'.")
  flags.DEFINE_integer("seed", 0, "Voice i samples with seed + i.")
  flags.DEFINE_float("temperature", 1.0, "Sampling temperature.")
  flags.DEFINE_float("lead_seconds", live_engine.LEAD_SECONDS, "How far "
                     "the audio runs ahead of the clock (jitter margin; "
                     "adds to the key latency), at first: each late block "
                     "while a voice sounds adds a block to it, a minute "
                     "without one takes a block back.")
  flags.DEFINE_float("max_lead_seconds", None, "The most the lead grows to "
                     f"(default {live_engine.MAX_LEAD_SECONDS:g}, or "
                     "--lead_seconds if larger); = --lead_seconds: a fixed "
                     "lead.")
  flags.DEFINE_string("checkpoint", "best", "best, last or a checkpoint "
                      "prefix.")
  threads.define_flag(default=1)
  flags.DEFINE_integer(
      "processes", 0, "Processes decoding the sounding voices, this one "
      "included, each with --threads threads. 0: the fewest (up to one per "
      "core, at most 4) that decode four voices at 1.25x real time or more, "
      "measured at start-up; each process takes a core the browser needs "
      "too (pretrained/wavenet_live: one is enough on two cores).",
      lower_bound=0)
  flags.mark_flags_as_required(["model_dir", "corners"])


def main(argv: list[str]) -> int:
  # pylint: disable=g-import-not-at-top
  from absl import flags
  from common import threads
  from wavenet import instrument_sounds
  from wavenet import live_server
  if len(argv) > 1:
    print(f"error: unexpected arguments {' '.join(argv[1:])}",
          file=sys.stderr)
    return 2
  f = flags.FLAGS
  threads.apply(f.threads)
  def log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
  instrument = live_server.load_instrument(
      f.model_dir, f.corners, instrument_sounds.parse_pitches(f.pitches),
      seconds=f.seconds, note_off=f.note_off, stats=f.stats, seed=f.seed,
      temperature=f.temperature, lead_seconds=f.lead_seconds,
      max_lead_seconds=f.max_lead_seconds,
      checkpoint=f.checkpoint, log=log, processes=f.processes,
      threads=f.threads)
  try:
    live_server.serve(instrument, f.host, f.port, log=log)
  finally:
    getattr(instrument.gen, "close", lambda: None)()
  return 0


def run() -> None:
  """Console-script entry point (`wavenet-live`)."""
  # pylint: disable=g-import-not-at-top
  from common import cli
  from common.generator import RequestError
  from common.live.server import ServerError
  from common.process_generator import WorkerError
  from wavenet.embeddings import EmbeddingsError
  from wavenet.instrument_sounds import InstrumentError
  from wavenet.latent_ops import LatentError
  from wavenet.live_engine import LiveError
  cli.run(main, _define_flags, __doc__,
          user_errors=(EmbeddingsError, InstrumentError, RequestError,
                       ServerError, LatentError, LiveError, WorkerError))


if __name__ == "__main__":
  run()
