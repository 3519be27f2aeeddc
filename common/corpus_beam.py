"""Corpus preparation as an Apache Beam pipeline (`--runner=...`).

The same corpus as `common.corpus.prepare` (the same examples in each split,
the same manifest), made by a Beam pipeline, so it runs unchanged on
Dataflow, Flink or Spark:

    manifest = corpus_beam.prepare(["gs://bucket/music"], "gs://bucket/corpus",
                                   runner="DataflowRunner",
                                   pipeline_args=["--project=p", ...])

The pipeline (in the manner of DDSP's `prepare_tfrecord`):

    file list ─reshuffle─ hash ─all─▶ plan (dedupe, splits: one step, so
                                      every runner splits alike)
    plan.todo ─reshuffle─ decode (in blocks, in the workers) ─▶ chunks, facts
    facts ─all─▶ layout (the manifest: file order, shards)
    chunks ─key by shard (layout)─ group ─▶ write each shard ─all─▶ manifest

Every decision is `common.corpus`'s own code: `hash_file`, `plan_files`
(content-hash splits with `assign_splits` over all the groups at once),
`decode_file` + `file_chunks`, `record_results` (file indices, shards by
`ShardPlan`), `ShardWriter`. A shard's records are written sorted by (file,
offset), so the shards and the manifest are byte for byte those of the
default path except the manifest's `seconds_taken`. The manifest is written
last, once every shard is in place.

Inputs and output_dir may be local paths or URLs Beam's FileSystems know
(gs://, s3://, hdfs://: install the matching Beam extra). A remote file is
copied to the worker's disk to be decoded; a shard is written on the
worker's disk and copied into place. Re-running into an output_dir extends
it as the default path does.

On this machine `runner="DirectRunner"` runs Beam's FnApiRunner, in
`multi_processing` mode over `workers` processes unless `pipeline_args` say
otherwise. Beam's own DirectRunner class would first try its Prism runner,
which downloads a binary at run time. It holds all data between stages in
memory: for corpora that fill a disk, use the default path on one machine.

Beam metrics (namespace `neuralsynth.prepare`): files_found, files_used,
files_skipped, files_moved, chunks, audio_ms (milliseconds of source audio
used).
"""

from __future__ import annotations

import copy
import json
import os
import posixpath
import shlex
import shutil
import tempfile
import time
from typing import Any, Iterable, Iterator, Sequence

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.options import pipeline_options as beam_options

from common import audio as audio_lib
from common import corpus
from common import files

DIRECT = "DirectRunner"
NAMESPACE = "neuralsynth.prepare"
COUNTERS = ("files_found", "files_used", "files_skipped", "files_moved",
            "chunks", "audio_ms")
_COPY_BYTES = 1 << 20


def _count(name: str, value: int = 1) -> None:
  beam.metrics.Metrics.counter(NAMESPACE, name).inc(value)


# ---- storage: local paths, or URLs through Beam's FileSystems -------------


def is_remote(path: str) -> bool:
  """True for a URL (gs://, s3://, ...), False for a local path."""
  return FileSystems.get_scheme(path) is not None


def _join(directory: str, name: str) -> str:
  return FileSystems.join(directory, name) if is_remote(directory) else (
      os.path.join(directory, name))


def _open(path: str) -> Any:
  return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


def _copy_to(path: str, local_path: str) -> None:
  with _open(path) as source, open(local_path, "wb") as target:
    shutil.copyfileobj(source, target, _COPY_BYTES)


def _publish(local_path: str, path: str) -> None:
  """Copies a finished local file to a remote `path` (an object store shows
  the object only once it is whole)."""
  with open(local_path, "rb") as source, FileSystems.create(
      path, compression_type=CompressionTypes.UNCOMPRESSED) as target:
    shutil.copyfileobj(source, target, _COPY_BYTES)


def _remote_keys(root: str) -> dict[str, str]:
  """{url: key} of the audio files under a remote folder (or the one file
  named), keys relative to the folder's parent as `corpus.input_keys`."""
  root = root.rstrip("/")
  parent = posixpath.dirname(root)
  under = FileSystems.match([root + "/**"])[0].metadata_list
  paths = sorted(
      m.path for m in under
      if m.path.lower().endswith(audio_lib.AUDIO_EXTENSIONS) and not any(
          part.startswith(".") for part in m.path[len(root) + 1:].split("/")))
  if not under:  # not a folder: a file named explicitly is always used
    paths = [m.path for m in FileSystems.match([root])[0].metadata_list]
  if not paths:
    raise corpus.PrepareError(f"{root}: no such file, or no audio files in it")
  return {path: path[len(parent) + 1:] for path in paths}


def input_keys(inputs: Iterable[str]) -> dict[str, str]:
  """`corpus.input_keys` of local inputs and `_remote_keys` of URLs, in
  input order."""
  keys: dict[str, str] = {}
  for root in inputs:
    keys.update(_remote_keys(root) if is_remote(root) else
                corpus.input_keys([root]))
  return keys


def _hash(path: str) -> tuple[str, str | None, str | None]:
  """`corpus.hash_file`, for a URL too."""
  _count("files_found")
  if not is_remote(path):
    return corpus.hash_file(path)
  try:
    with _open(path) as f:
      return path, corpus.stream_sha256(f), None
  except Exception as e:  # pylint: disable=broad-except
    return path, None, f"unreadable ({e})"


def _exists(path: str) -> bool:
  return FileSystems.exists(path) if is_remote(path) else os.path.exists(path)


def _read_manifest(output_dir: str) -> dict | None:
  """The manifest in `output_dir`, None if there is none."""
  if not is_remote(output_dir):
    return corpus.existing_manifest(output_dir)
  path = _join(output_dir, corpus.MANIFEST)
  if not FileSystems.exists(path):
    return None
  with _open(path) as f:
    return json.load(f)


def _write_manifest_file(output_dir: str, manifest: dict) -> None:
  path = _join(output_dir, corpus.MANIFEST)
  if not is_remote(output_dir):
    files.write_json(path, manifest)
    return
  with tempfile.TemporaryDirectory() as scratch:
    local = os.path.join(scratch, corpus.MANIFEST)
    files.write_json(local, manifest)
    _publish(local, path)


def _remove_leftovers(output_dir: str, manifest: dict) -> list[str]:
  """`corpus.remove_leftovers`; in a remote folder, the shards the
  manifest does not list (written by a run stopped before its manifest)."""
  if not is_remote(output_dir):
    os.makedirs(output_dir, exist_ok=True)
    return corpus.remove_leftovers(output_dir, manifest)
  listed = {f["shard"] for f in manifest["files"]}
  found = FileSystems.match([_join(output_dir, "*.tfrecord")])[0]
  stray = [m.path for m in found.metadata_list
           if corpus.is_shard_name(posixpath.basename(m.path)) and
           posixpath.basename(m.path) not in listed]
  if stray:
    FileSystems.delete(stray)
  return sorted(posixpath.basename(p) for p in stray)


# ---- the pipeline's steps --------------------------------------------------


def _plan(found: list[tuple[str, str | None, str | None]],
          keys: dict[str, str], manifest: dict,
          settings: dict) -> corpus.Plan:
  """`corpus.plan_files` over every hash, back in input order."""
  order = {path: i for i, path in enumerate(keys)}
  plan = corpus.plan_files(sorted(found, key=lambda f: order[f[0]]), keys,
                           manifest, settings, exists=_exists)
  _count("files_skipped", len(plan.skipped))
  _count("files_moved", len(plan.moved))
  return plan


class _DecodeFile(beam.DoFn):
  """(todo index, (path, sha256)) -> chunks (todo index, offset, codes) and
  one "facts" output (todo index, `corpus.decode_file`'s dict).

  The file is decoded a block at a time into a raw file on the worker's
  disk (a remote file is first copied there), then cut into chunks through
  a memory map: memory stays bounded whatever the file's length.
  """

  def __init__(self, settings: dict):
    self.settings = settings

  def process(self, item: tuple[int, tuple[str, str]]
              ) -> Iterator[Any]:
    index, (path, _) = item
    scratch = tempfile.mkdtemp(prefix="neuralsynth-prepare-")
    try:
      local = path
      if is_remote(path):
        local = os.path.join(scratch, posixpath.basename(path))
        _copy_to(path, local)
      raw = os.path.join(scratch, "codes.raw")
      facts = corpus.decode_file(local, raw, self.settings)
      if "error" not in facts:
        for offset, codes in corpus.file_chunks(raw, self.settings):
          _count("chunks")
          yield index, offset, codes
      yield beam.pvalue.TaggedOutput("facts", (index, facts))
    finally:
      shutil.rmtree(scratch, ignore_errors=True)


def _layout(facts: list[tuple[int, dict]], plan: corpus.Plan,
            keys: dict[str, str], manifest: dict, shard_megabytes: float,
            settings: dict) -> dict:
  """The new manifest (`corpus.record_results` in `plan.todo` order) and
  `places`: {todo index: (file index, shard)} of each file used."""
  manifest = copy.deepcopy(manifest)
  ordered = sorted(facts, key=lambda f: f[0])
  results = [dict(path=plan.todo[index][0], key=keys[plan.todo[index][0]],
                  sha256=plan.todo[index][1], **fact)
             for index, fact in ordered]
  places = {}
  for (todo_index, _), (result, file_index) in zip(
      ordered, corpus.record_results(results, plan, manifest,
                                     shard_megabytes, settings)):
    if file_index is None:
      _count("files_skipped")
    else:
      places[todo_index] = (file_index, manifest["files"][file_index]["shard"])
      _count("files_used")
      _count("audio_ms", int(round(1000 * result["source_seconds"])))
  return dict(manifest=manifest, places=places)


def _to_shard(chunk: tuple[int, int, bytes], layout: dict
              ) -> tuple[str, tuple[int, int, bytes]]:
  """(todo index, offset, codes) -> (shard, (file index, offset, codes))."""
  index, offset, codes = chunk
  file_index, shard = layout["places"][index]
  return shard, (file_index, offset, codes)


def _write_shard(item: tuple[str, Iterable[tuple[int, int, bytes]]],
                 output_dir: str) -> str:
  """Writes one shard, its records in (file, offset) order; returns its
  name."""
  shard, chunks = item
  remote = is_remote(output_dir)
  scratch = tempfile.mkdtemp(prefix="neuralsynth-shard-") if remote else None
  writer = corpus.ShardWriter(scratch or output_dir)
  try:
    for file_index, offset, codes in sorted(chunks, key=lambda c: c[:2]):
      writer.write(shard, codes, file_index, offset)
    writer.close()
    if scratch:
      _publish(os.path.join(scratch, shard), _join(output_dir, shard))
  finally:
    writer.close()
    if scratch:
      shutil.rmtree(scratch, ignore_errors=True)
  return shard


def _finish(written: list[str], layout: dict, output_dir: str,
            started: float) -> None:
  """Writes the manifest; it comes last, after the shards `written`."""
  del written  # waited for
  _write_manifest_file(output_dir,
                       corpus.finish_manifest(layout["manifest"], started))


def _todo(plan: corpus.Plan) -> list[tuple[int, tuple[str, str]]]:
  return list(enumerate(plan.todo))


def build(pipeline: beam.Pipeline, keys: dict[str, str], manifest: dict,
          output_dir: str, shard_megabytes: float, settings: dict,
          started: float) -> None:
  """Adds the preparation's steps to `pipeline` (see the module doc)."""
  found = (pipeline
           | "list files" >> beam.Create(list(keys))
           | "spread files" >> beam.Reshuffle()
           | "hash" >> beam.Map(_hash))
  plan = (found
          | "all hashes" >> beam.combiners.ToList()
          | "plan" >> beam.Map(_plan, keys, manifest, settings))
  decoded = (plan
             | "files to decode" >> beam.FlatMap(_todo)
             | "spread decoding" >> beam.Reshuffle()
             | "decode" >> beam.ParDo(_DecodeFile(settings)).with_outputs(
                 "facts", main="chunks"))
  layout = (decoded.facts
            | "all facts" >> beam.combiners.ToList()
            | "layout" >> beam.Map(_layout, beam.pvalue.AsSingleton(plan),
                                   keys, manifest, shard_megabytes, settings))
  written = (decoded.chunks
             | "key by shard" >> beam.Map(_to_shard,
                                          beam.pvalue.AsSingleton(layout))
             | "group shards" >> beam.GroupByKey()
             | "write shards" >> beam.Map(_write_shard, output_dir))
  _ = (written
       | "all shards" >> beam.combiners.ToList()
       | "write manifest" >> beam.Map(_finish, beam.pvalue.AsSingleton(layout),
                                      output_dir, started))


# ---- running it ------------------------------------------------------------


def pipeline_options(runner: str, pipeline_args: Sequence[str] | str = (),
                     workers: int | None = None
                     ) -> beam_options.PipelineOptions:
  """Beam options from a command line (a string is split as a shell would).

  For the DirectRunner, `direct_running_mode` defaults to multi_processing
  and `direct_num_workers` to `workers` (default: the CPU count).

  Raises:
    corpus.PrepareError: an option Beam does not know.
  """
  args = shlex.split(pipeline_args) if isinstance(pipeline_args, str) else (
      list(pipeline_args))
  if runner == DIRECT:
    given = " ".join(args)
    if "--direct_running_mode" not in given:
      args.append("--direct_running_mode=multi_processing")
    if "--direct_num_workers" not in given:
      args.append(f"--direct_num_workers={workers or os.cpu_count() or 1}")
  options = beam_options.PipelineOptions(args + [f"--runner={runner}"])
  known = options.get_all_options()
  unknown = [a for a in options.get_all_options(retain_unknown_options=True)
             if a not in known]
  if unknown:
    raise corpus.PrepareError(
        f"--pipeline_options: unknown Beam option(s) "
        f"{', '.join('--' + u for u in unknown)}")
  return options


def runner_for(name: str, options: beam_options.PipelineOptions) -> Any:
  """The Beam runner `name` names; for "DirectRunner", the FnApiRunner the
  DirectRunner uses for batch pipelines (without its attempt at the Prism
  runner, which downloads a binary at run time).

  Raises:
    corpus.PrepareError: no such runner (or its Beam extra is missing).
  """
  # pylint: disable=g-import-not-at-top
  from apache_beam.runners import runner as beam_runner
  if name == DIRECT:
    from apache_beam.portability.api import beam_provision_api_pb2
    from apache_beam.runners.portability import portable_runner
    from apache_beam.runners.portability.fn_api_runner import fn_runner
    encoded = portable_runner.JobServiceHandle.encode_pipeline_options(
        options.get_all_options())
    return fn_runner.FnApiRunner(provision_info=fn_runner.ExtendedProvisionInfo(
        beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded)))
  try:
    return beam_runner.create_runner(name)
  except (ValueError, ImportError) as e:
    raise corpus.PrepareError(f"--runner={name}: {e}") from None


def counters(result: Any) -> dict[str, int]:
  """{name: value} of the pipeline's `COUNTERS` (committed values where the
  runner has them)."""
  values = dict.fromkeys(COUNTERS, 0)
  query = result.metrics().query(
      beam.metrics.MetricsFilter().with_namespace(NAMESPACE))
  for counter in query["counters"]:
    value = counter.committed if counter.committed is not None else (
        counter.attempted)
    values[counter.key.metric.name] += int(value or 0)
  return values


def prepare(inputs: Iterable[str], output_dir: str, runner: str = DIRECT,
            pipeline_args: Sequence[str] | str = (),
            workers: int | None = None, shard_megabytes: float = 64,
            **settings: Any) -> dict:
  """Prepares a corpus with a Beam pipeline; returns the manifest written.

  Like `corpus.prepare` (the same shards and manifest for the same inputs
  and settings); the returned dict also holds `_new_source_seconds`,
  `_already_prepared` and `_counters` (the Beam metrics), not written.

  Args:
    inputs: files and folders (searched recursively), local or URLs.
    output_dir: where shards and manifest.json go, local or a URL.
    runner: a Beam runner name ("DirectRunner", "DataflowRunner",
      "FlinkRunner", "SparkRunner", ...).
    pipeline_args: Beam options, e.g. ["--project=p", "--region=r"] or the
      same as one string.
    workers: the DirectRunner's processes (default: the CPU count).
    shard_megabytes: a shard is closed after this many MB of codes.
    **settings: see `corpus.default_settings`.

  Raises:
    corpus.PrepareError: nothing usable, an output_dir holding other
      settings, an unknown runner or Beam option.
  """
  inputs = [os.fspath(i) for i in inputs]
  output_dir = os.fspath(output_dir)
  settings = corpus.default_settings(**settings)
  corpus.check_settings(settings)
  options = pipeline_options(runner, pipeline_args, workers)
  manifest = corpus.manifest_to_extend(output_dir, settings,
                                       _read_manifest(output_dir))
  keys = input_keys(inputs)
  removed = _remove_leftovers(output_dir, manifest)
  if removed:
    print(f"removed {len(removed)} file(s) left by an interrupted run: "
          f"{', '.join(removed)}")
  started = time.time()
  pipeline = beam.Pipeline(runner=runner_for(runner, options), options=options)
  build(pipeline, keys, manifest, output_dir, shard_megabytes, settings,
        started)
  result = pipeline.run()
  result.wait_until_finish()
  written = _read_manifest(output_dir)
  assert written is not None
  corpus.check_usable(written, output_dir, inputs)
  counts = counters(result)
  written["_new_source_seconds"] = counts["audio_ms"] / 1000
  written["_already_prepared"] = counts["files_moved"]
  written["_counters"] = counts
  return written
