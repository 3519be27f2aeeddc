"""The instrument's render loop: every (grid point, pitch) decoded once.

Notes are decoded through the generator interface (`common.generator`)
with the seeding rule of every tool: the build's notes, in their output
order (`note_jobs`: pitch by pitch from the lowest, each pitch's grid
points row-major), are outputs 0, 1, 2, ...; note `i` samples with the
seed `--seed + i` and the build's temperature, and its codes do not depend
on the batch it is rendered in (nor on `--batch_size`), so a resumed build
renders the notes of an uninterrupted one, and any tool given the same
model, embeddings, seed and temperature makes the same codes. Each note's
record in `renders.jsonl` holds its seed and temperature.

Batches have the same number of rows (`balanced_width`, a short batch
padded with copies of its last note), so the generator compiles once per
build: on a CPU a few more rows cost little next to a new trace.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, Callable, Iterator

import numpy as np

from common import audio
from common import generator as generator_lib
from common import quantization
from wavenet import embeddings as embeddings_lib
from wavenet import instrument_journal as journal
from wavenet import instrument_levels
from wavenet.instrument_journal import Job

SEED_RULE = ("note i of the build (pitch by pitch from the lowest, each "
             "pitch's grid points row-major) samples with the seed seed + i")


def encode_notes(model: Any, config: dict, notes: np.ndarray,
                 batch_size: int) -> np.ndarray:
  """float32 `[count, samples]` audio -> embeddings `[count, frames, d]`."""
  codes = embeddings_lib.audio_to_codes(config, notes)
  return np.concatenate([embeddings_lib.encode_batch(
      model, codes[i:i + batch_size]) for i in range(0, len(codes),
                                                     batch_size)])


def note_jobs(pitches: list[int], num_points: int) -> list[Job]:
  """Every (point, pitch) of a build in output order: note `i` has the seed
  `seed + i`."""
  return [(point, pitch) for pitch in pitches for point in range(num_points)]


def balanced_width(num_jobs: int, batch_size: int) -> int:
  """Rows per batch when `num_jobs` notes run in batches of at most
  `batch_size`, as evenly as possible: (325, 128) -> 109 (3 batches)."""
  num_batches = max(1, -(-num_jobs // batch_size))
  return max(1, -(-num_jobs // num_batches))


def note_request(embeddings: dict[int, np.ndarray], jobs: list[Job],
                 indices: list[int], seed: int,
                 temperature: float) -> generator_lib.Request:
  """The request of notes `indices` of `jobs`: note `i` has the seed
  `seed + i`; `embeddings` is `{pitch: [points, frames, d]}`."""
  return generator_lib.Request(
      seeds=tuple(int(seed) + i for i in indices),
      temperatures=(float(temperature),) * len(indices),
      embeddings=np.stack([embeddings[jobs[i][1]][jobs[i][0]]
                           for i in indices]).astype(np.float32))


def _padded_batches(indices: list[int], width: int) -> Iterator[list[int]]:
  """`indices` in batches of `width` rows, the last padded with copies of
  its last index."""
  for start in range(0, len(indices), width):
    batch = indices[start:start + width]
    yield batch + [batch[-1]] * (width - len(batch))


def _progress_bar(total: int, initial: int, progress: bool) -> Any:
  from tqdm import tqdm  # pylint: disable=g-import-not-at-top
  return tqdm(total=total, initial=initial, unit="note", disable=not progress,
              file=sys.stderr, dynamic_ncols=True, desc="rendering",
              bar_format="{l_bar}{bar}| {n:.1f}/{total} notes "
              "[{elapsed}<{remaining}{postfix}]")


def _record(note: np.ndarray, rel: str, job: Job, seed: int,
            temperature: float, seconds_taken: float) -> dict:
  peak, rms = instrument_levels.note_levels(note)
  return dict(point=job[0], pitch=job[1], file=rel, seed=seed,
              temperature=temperature, peak=peak, rms=rms,
              seconds_taken=round(seconds_taken, 3))


def render_missing(gen: generator_lib.Generator,
                   embeddings: dict[int, np.ndarray], pitches: list[int],
                   output_dir: str, num_samples: int, temperature: float,
                   seed: int, batch_size: int, progress: bool = True,
                   on_render: Callable[[int, int], None] | None = None
                   ) -> int:
  """Renders every (point, pitch) without a valid record; returns the count.

  Args:
    gen: the autoencoder's generator (`common.family`).
    embeddings: `{pitch: [points, frames, d]}`, frames covering
      `num_samples` samples.
    num_samples: samples per note.
    temperature, seed: note `i` of `note_jobs` has the seed `seed + i`.
    batch_size: notes rendered together (at most).
    on_render: optional `fn(point, pitch)` called after each note is written
      and recorded (tests raise from it to simulate an interruption).
  """
  num_points = len(next(iter(embeddings.values())))
  journal.end_records_line(output_dir)
  done = journal.read_records(output_dir)
  jobs = note_jobs(pitches, num_points)
  missing = [i for i, job in enumerate(jobs) if job not in done]
  bar = _progress_bar(len(jobs), len(jobs) - len(missing), progress)
  rendered = 0
  try:
    for batch in _padded_batches(missing, balanced_width(len(jobs),
                                                         batch_size)):
      todo = list(dict.fromkeys(batch))  # the batch without its padding
      started = time.time()
      request = note_request(embeddings, jobs, batch, seed, temperature)
      bar.set_postfix_str(f"batch of {len(todo)}", refresh=True)
      blocks = []
      for codes in generator_lib.stream(gen, request, num_samples):
        blocks.append(codes[:len(todo)])
        bar.update(len(todo) * codes.shape[1] / num_samples * 0.999)
      notes = quantization.decode(np.concatenate(blocks, axis=1),
                                  gen.quantization, gen.q_levels)
      taken = (time.time() - started) / len(todo)
      for i, note in zip(todo, notes):
        rel = os.path.join("renders", journal.render_stem(
            *jobs[i], num_points) + ".flac")
        audio.save(os.path.join(output_dir, rel), note, gen.sample_rate)
        journal.append_record(output_dir, _record(
            note, rel, jobs[i], request.seeds[batch.index(i)],
            float(temperature), taken))
        rendered += 1
        if on_render is not None:
          on_render(*jobs[i])
      bar.n = len(jobs) - len(missing) + rendered
      bar.refresh()
  finally:
    bar.close()
  return rendered
