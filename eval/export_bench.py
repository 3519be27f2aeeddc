r"""Benchmark of the exports (`common.exporting`): speed and size.

    python -m eval.export_bench --output=export_bench.json \
        [--model_dir=pretrained/samplernn_bach --model_dir=...] \
        [--seconds=2 --batch_sizes=1,4 --repeats=3]

For each model (by default the three shipped ones) it exports a SavedModel
and a TFLite step into a temporary folder, then measures, alternating the
two so that a change in the machine's load hits both alike:

- the library's generation (`Generator.next_block` of `--seconds` from a new
  state; an autoencoder decodes the embeddings of a bundled clip) against
  the SavedModel's `generate` (`decode`) on the same request, loaded with
  `tf.saved_model.load`: median samples per second per sequence, and the
  ratio;
- the TFLite step in the LiteRT interpreter (one call per step from Python,
  as a plugin host would call it; batch 1);
- the sizes of the checkpoint, the SavedModel and the .tflite file.

It prints a table and writes the figures as JSON (atomically; an existing
file is kept unless `--overwrite`).
"""

from __future__ import annotations

import importlib
import os
import tempfile
import time
from typing import Any, Callable, Sequence

import numpy as np

PRETRAINED = os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "pretrained")
DEFAULT_MODELS = tuple(os.path.join(PRETRAINED, name) for name in (
    "samplernn_bach", "wavenet_bach", "wavenet_notes"))
NOTE = os.path.join(PRETRAINED, "clips", "notes",
                    "guitar_nylon_024-060-100.flac")
TFLITE_SECONDS = 0.25  # of audio per TFLite measurement


def directory_bytes(path: str) -> int:
  """Bytes of the files under `path` (or of the file `path`)."""
  if os.path.isfile(path):
    return os.path.getsize(path)
  return sum(os.path.getsize(os.path.join(folder, name))
             for folder, _, names in os.walk(path) for name in names)


def alternating_medians(fns: Sequence[Callable[[], object]], repeats: int
                        ) -> list[float]:
  """Median seconds of each function, timed in turns after one untimed
  call each (which compiles)."""
  for fn in fns:
    fn()
  times: list[list[float]] = [[] for _ in fns]
  for _ in range(repeats):
    for fn, spent in zip(fns, times):
      start = time.perf_counter()
      fn()
      spent.append(time.perf_counter() - start)
  return [float(np.median(t)) for t in times]


def _library_and_export(loaded: Any, gen: Any, saved: Any, batch: int,
                        num_samples: int) -> tuple[Callable[[], object],
                                                   Callable[[], object], int]:
  """(library call, export call, samples per sequence) on one request."""
  # pylint: disable=g-import-not-at-top
  import tensorflow as tf
  from common import audio
  from common import generator as generator_lib
  from common import quantization
  signatures = saved.signatures
  sampling = dict(temperature=tf.ones([batch]),
                  seed=tf.constant(0, tf.int64))
  if gen.conditioned:
    clip = audio.load(NOTE, sample_rate=gen.sample_rate)
    codes = quantization.encode(np.tile(clip[None], [batch, 1]),
                                gen.quantization, gen.q_levels)
    frames = gen.encode(codes)
    num_samples = frames.shape[1] * gen.samples_per_frame
    request = generator_lib.Request.make(seed=0, temperature=1.0,
                                         embeddings=frames)
    width = int(loaded.config["bottleneck_width"])
    given = dict(embeddings=tf.constant(frames[..., :width]))
    if frames.shape[-1] > width:
      given["pitch"] = tf.constant(frames[..., width:])
    export_call = lambda: signatures["decode"](**given, **sampling)  # noqa: E731
    library_call = lambda: generator_lib.generate(  # noqa: E731
        gen, request, num_samples)
    return library_call, export_call, num_samples
  num_samples = -(-num_samples // gen.block_multiple) * gen.block_multiple
  request = generator_lib.Request.make(batch, 0, 1.0)
  state = signatures["initial_state"](batch_size=tf.constant(batch))
  start = gen.start(request)
  export_call = lambda: signatures["generate"](  # noqa: E731
      **state, num_samples=tf.constant(num_samples), **sampling)
  library_call = lambda: gen.next_block(start, num_samples)  # noqa: E731
  return library_call, export_call, num_samples


def tflite_speed(path: str, conditioned: bool, seconds: float,
                 sample_rate: int) -> float:
  """Samples per second of the TFLite step called from Python (batch 1):
  `condition` once per frame (an autoencoder, zero embeddings), `step`
  per call."""
  # The LiteRT package (no type information: imported by name).
  litert = importlib.import_module("ai_edge_litert.interpreter")
  interpreter = litert.Interpreter(model_path=path)
  step = interpreter.get_signature_runner("step")
  state = interpreter.get_signature_runner("initial_state")()
  inputs = dict(temperature=np.ones(1, np.float32),
                seed=np.array(0, np.int64))
  if conditioned:
    condition = interpreter.get_signature_runner("condition")
    given = {name: np.zeros(detail["shape"], detail["dtype"]) for name, detail
             in condition.get_input_details().items()}
    inputs.update(condition(**given))
  names = list(state)
  made = step(**state, **inputs)  # warm up
  per_call = int(np.prod(made["codes"].shape))
  calls = max(1, int(seconds * sample_rate) // per_call)
  begin = time.perf_counter()
  for _ in range(calls):
    made = step(**state, **inputs)
    state = {name: made[name] for name in names}
  return calls * per_call / (time.perf_counter() - begin)


def bench_model(model_dir: str, folder: str, seconds: float,
                batch_sizes: Sequence[int], repeats: int,
                log: Callable[[str], None]) -> dict[str, Any]:
  """The figures of one model (see the module doc)."""
  # pylint: disable=g-import-not-at-top
  import tensorflow as tf
  from common import checkpoint
  from common import exporting
  from common import family as family_lib
  loaded = checkpoint.load(model_dir)
  gen = family_lib.of_config(loaded.config).generator(loaded.model,
                                                      loaded.config)
  out = os.path.join(folder, os.path.basename(os.path.abspath(model_dir)))
  begin = time.perf_counter()
  paths = exporting.write_export(loaded, model_dir, out,
                                 ("saved_model", "tflite"),
                                 max_batch=max(batch_sizes))
  result: dict[str, Any] = dict(
      model_dir=model_dir, export_seconds=time.perf_counter() - begin,
      checkpoint_bytes=directory_bytes(os.path.dirname(loaded.path)),
      saved_model_bytes=directory_bytes(paths["saved_model"]),
      tflite_bytes=directory_bytes(paths["tflite"]), generate=[])
  saved = tf.saved_model.load(paths["saved_model"])
  for batch in batch_sizes:
    library_call, export_call, samples = _library_and_export(
        loaded, gen, saved, batch, int(seconds * gen.sample_rate))
    library, exported = alternating_medians([library_call, export_call],
                                            repeats)
    row = dict(batch=batch, samples=samples,
               library_samples_per_second=samples / library,
               export_samples_per_second=samples / exported,
               export_over_library=library / exported)
    log(f"{model_dir} batch {batch}: {row}")
    result["generate"].append(row)
  result["tflite_samples_per_second"] = tflite_speed(
      paths["tflite"], gen.conditioned, TFLITE_SECONDS, gen.sample_rate)
  log(f"{model_dir} TFLite: {result['tflite_samples_per_second']:.0f} "
      f"samples/s")
  return result


def format_table(results: list[dict[str, Any]]) -> str:
  """A markdown table of the figures."""
  lines = ["| model | batch | library samples/s | SavedModel samples/s | "
           "SavedModel / library | TFLite step samples/s | checkpoint MB | "
           "SavedModel MB | TFLite MB |", "|---" * 9 + "|"]
  for result in results:
    for row in result["generate"]:
      lines.append(
          f"| {os.path.basename(result['model_dir'])} | {row['batch']} | "
          f"{row['library_samples_per_second']:,.0f} | "
          f"{row['export_samples_per_second']:,.0f} | "
          f"{row['export_over_library']:.2f} | "
          f"{result['tflite_samples_per_second']:,.0f} | "
          f"{result['checkpoint_bytes'] / 1e6:.1f} | "
          f"{result['saved_model_bytes'] / 1e6:.1f} | "
          f"{result['tflite_bytes'] / 1e6:.1f} |")
  return "\n".join(lines)


def main(argv: list[str]) -> int:
  del argv
  # pylint: disable=g-import-not-at-top
  from absl import flags
  from common import cli
  from common import files
  f = flags.FLAGS
  files.refuse_overwrite(f.output, f.overwrite)
  batch_sizes = cli.positive_ints(f.batch_sizes, "batch_sizes")
  with tempfile.TemporaryDirectory(prefix="export_bench.") as folder:
    results = [bench_model(model_dir, folder, f.seconds, batch_sizes,
                           f.repeats, print)
               for model_dir in (f.model_dir or DEFAULT_MODELS)]
  print(format_table(results))
  files.write_json(f.output, dict(seconds=f.seconds, results=results))
  print(f"wrote {f.output}")
  return 0


def define_flags() -> None:
  from absl import flags  # pylint: disable=g-import-not-at-top
  flags.DEFINE_string("output", None, "The JSON file of the figures.")
  flags.mark_flag_as_required("output")
  flags.DEFINE_bool("overwrite", False, "Replace an existing result.")
  flags.DEFINE_multi_string("model_dir", None, "Models to export and time "
                            "(default: the three shipped ones).")
  flags.DEFINE_float("seconds", 2.0, "Seconds of audio per timed call (an "
                     "autoencoder decodes a bundled note).", lower_bound=0.1)
  flags.DEFINE_string("batch_sizes", "1", "Sequences per call, e.g. 1,4.")
  flags.DEFINE_integer("repeats", 3, "Timed calls of each.", lower_bound=1)


def run() -> None:
  """Console-script entry point."""
  # pylint: disable=g-import-not-at-top
  from common import checkpoint
  from common import cli
  from common import exporting
  cli.run(main, define_flags, __doc__,
          user_errors=(exporting.ExportError, checkpoint.CheckpointError))


if __name__ == "__main__":
  run()
