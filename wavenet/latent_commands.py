"""The latent commands as functions: inputs -> embeddings -> wavs + JSON.

`run_command(command, args, model_dir, output_dir, **options)` is the
command line `python -m wavenet.latent` as a function. A command is a row
of `COMMANDS`: how many inputs it takes, its formula (text), what it does
with the pitch (text), which options it records, how many outputs a group
of inputs gives, and the function that makes them (`latent_ops`).

A run: the inputs (audio files, encoded with the model, or `.npy`
embeddings; with `--pitches`, one group of inputs per pitch) are aligned
to one length per group, the command makes its embeddings, `--pitch`
replaces their pitch, and all outputs of all groups are decoded in one
call of `wavenet.synthesis.synthesize_embeddings`, which goes through the
generator interface (`common.generator`): output `i` (in the order of the
JSON's `outputs`) samples with the seed `--seed + i`, its own temperature,
and gives the same audio in any batch, so `wavenet.synthesize
--embeddings` re-makes it from the same embeddings, seed and temperature.
`<name>.json` records each output's seed and temperature.
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Any, Callable, Sequence

import numpy as np

from common import audio
from common import config as config_lib
from common import files
from common import generation
from common import generator as generator_lib
from wavenet import embeddings as embeddings_lib
from wavenet import latent_ops
from wavenet import latent_stats
from wavenet.latent_ops import LatentError

Loaded = tuple[Any, dict, int, str]  # (model, config, step, checkpoint path)
Output = tuple[np.ndarray, dict]  # (embeddings [frames, d], description)


@dataclasses.dataclass(frozen=True)
class Group:
  """One group of inputs, aligned: what a command's formula acts on.

  Attributes:
    zs: the aligned inputs, `[frames, d]` each.
    paths: their files (audio or `.npy`).
    opts: the run's options (`DEFAULTS` keys).
    pitch_bins: width of the pitch two-hot ending each frame (0: none).
    frame_rate: embedding frames per second.
    stats: (mean `[d]`, std `[d]`) of a corpus, or None.
  """
  zs: list[np.ndarray]
  paths: list[str]
  opts: dict
  pitch_bins: int
  frame_rate: float
  stats: tuple[np.ndarray, np.ndarray] | None


@dataclasses.dataclass(frozen=True)
class Command:
  """A row of the command table.

  Attributes:
    inputs: input files it takes (None: 4 or more, multigrid).
    formula: what it computes, as text (recorded in the JSON).
    pitch_rule: what it does with the pitch part of pitch-conditioned
      embeddings (recorded in the JSON).
    parameters: the options recorded in the JSON's `parameters`.
    count: `count(opts, num_inputs)`, outputs per group of inputs.
    make: `make(group)`, the outputs of a group, in order.
    needs_stats: whether it needs `--stats`.
  """
  inputs: int | None
  formula: str
  pitch_rule: str
  parameters: tuple[str, ...]
  count: Callable[[dict, int], int]
  make: Callable[[Group], list[Output]]
  needs_stats: bool = False


DEFAULTS: dict[str, Any] = dict(
    steps=5, grid=3, layout=None, resolution=3, factor="1.5", sigma="0.5",
    hz="1.0", stats=None, align="crop", pitches=None, pitch=None,
    data_dir=None, split="train", max_files=None, output=None, seed=0,
    temperature="1.0", batch_size=8, checkpoint="best", name=None,
    overwrite=False, progress=True)


# ---------------------------------------------------------------------------
# Option parsing.
# ---------------------------------------------------------------------------


def _floats(text: Any, flag: str) -> list[float]:
  try:
    values = [float(v) for v in str(text).split(",") if v.strip()]
  except ValueError:
    raise LatentError(f"--{flag}: not a number or list: {text!r}") from None
  if not values:
    raise LatentError(f"--{flag}: no value given")
  return values


def _pitches(text: Any) -> list[int] | None:
  if text in (None, ""):
    return None
  try:
    return [int(v) for v in str(text).split(",") if v.strip()]
  except ValueError:
    raise LatentError(f"--pitches: not a list of MIDI numbers: {text!r}"
                      ) from None


def _temperatures(text: Any, count: int) -> tuple[float, ...]:
  """`common.generator.parse_temperatures`, its error naming the flag."""
  try:
    return generator_lib.parse_temperatures(text, count)
  except generator_lib.RequestError as e:
    raise generator_lib.RequestError(f"--temperature={text}: {e}") from None


# ---------------------------------------------------------------------------
# The commands: outputs per group, and how they are made.
# ---------------------------------------------------------------------------


def _count_steps(opts: dict, num_inputs: int) -> int:
  del num_inputs
  if int(opts["steps"]) < 2:
    raise LatentError("--steps must be >= 2")
  return int(opts["steps"])


def _count_grid(opts: dict, num_inputs: int) -> int:
  del num_inputs
  return len(latent_ops.grid_points(int(opts["grid"])))


def _count_multigrid(opts: dict, num_inputs: int) -> int:
  rows, cols = latent_ops.multigrid_shape(
      latent_ops.parse_layout(opts["layout"], num_inputs), opts["resolution"])
  return rows * cols


def _count_values(flag: str) -> Callable[[dict, int], int]:
  return lambda opts, num_inputs: len(_floats(opts[flag], flag))


def _count_one(opts: dict, num_inputs: int) -> int:
  del opts, num_inputs
  return 1


def _weighted_sum(weights: Sequence[float], names: Sequence[str]) -> str:
  return " + ".join(f"{w:.3g} * {n}" for w, n in zip(weights, names) if w > 0)


def _interpolate(g: Group) -> list[Output]:
  return [(latent_ops.interpolate(g.zs[0], g.zs[1], a,
                                  pitch_bins=g.pitch_bins),
           dict(alpha=float(a), description=f"{1 - a:.3g} * A + {a:.3g} * B"))
          for a in np.linspace(0.0, 1.0, int(g.opts["steps"]))]


def _grid(g: Group) -> list[Output]:
  size = int(g.opts["grid"])
  mixed, weights = latent_ops.grid_embeddings(np.stack(g.zs), size,
                                              g.pitch_bins)
  return [(z, dict(point=[float(point[0]), float(point[1])],
                   weights=dict(zip(latent_ops.CORNERS, map(float, w))),
                   description=_weighted_sum(w, "ABCD")))
          for point, w, z in zip(latent_ops.grid_points(size), weights,
                                 mixed)]


def _multigrid(g: Group) -> list[Output]:
  layout = latent_ops.parse_layout(g.opts["layout"], len(g.zs))
  points, mixed, corners, weights = latent_ops.multigrid_embeddings(
      np.stack(g.zs), layout, g.opts["resolution"], g.pitch_bins)
  return [(z, dict(point=[float(point[0]), float(point[1])],
                   corners=[int(i) for i in idx],
                   corner_files=[os.path.abspath(g.paths[i]) for i in idx],
                   weights=[float(v) for v in w],
                   description=_weighted_sum(w, [f"F{i + 1}" for i in idx])))
          for point, idx, w, z in zip(points, corners, weights, mixed)]


def _scale(g: Group) -> list[Output]:
  return [(latent_ops.scale(g.zs[0], f, g.pitch_bins),
           dict(factor=f, description=f"{f:g} * A"))
          for f in _floats(g.opts["factor"], "factor")]


def _caricature(g: Group) -> list[Output]:
  assert g.stats is not None
  return [(latent_ops.caricature(g.zs[0], g.stats[0], f, g.pitch_bins),
           dict(factor=f, description=f"mean + {f:g} * (A - mean)"))
          for f in _floats(g.opts["factor"], "factor")]


def _noise(g: Group) -> list[Output]:
  assert g.stats is not None
  seed = int(g.opts["seed"])
  return [(latent_ops.add_noise(g.zs[0], g.stats[0], g.stats[1], s, seed,
                                g.pitch_bins),
           dict(sigma=s, noise_seed=seed,
                description=f"A + std * N(0, {s:g})"))
          for s in _floats(g.opts["sigma"], "sigma")]


def _oscillate(g: Group) -> list[Output]:
  return [(latent_ops.oscillate(g.zs[0], g.zs[1], hz, g.frame_rate,
                                pitch_bins=g.pitch_bins),
           dict(hz=hz, description=f"A <-> B at {hz:g} Hz, starting at A"))
          for hz in _floats(g.opts["hz"], "hz")]


def _analogy(g: Group) -> list[Output]:
  z_a, z_b, z_c = g.zs
  return [(latent_ops.analogy(z_a, z_b, z_c, pitch_bins=g.pitch_bins),
           dict(description="C + (B - A)"))]


_NEAREST_CORNER = ("the pitch of the heaviest (nearest) corner{}; on a tie "
                   "the first in corner order")
COMMANDS: dict[str, Command] = {
    "interpolate": Command(
        2, "z = (1 - a) * zA + a * zB; mix x = (1 - a) * xA + a * xB",
        "the heavier input's pitch in each frame: A's while a <= 0.5, else "
        "B's", ("steps",), _count_steps, _interpolate),
    "grid": Command(
        4, "z = w_tl*zA + w_tr*zB + w_bl*zC + w_br*zD; (w_tl, w_tr, w_bl, "
        "w_br) = ((1-x)(1-y), x(1-y), (1-x)y, xy)",
        _NEAREST_CORNER.format(""), ("grid", "pitches"), _count_grid, _grid),
    "multigrid": Command(
        None, "z = bilinear mix of the 4 corner instruments of the point's "
        "square: ((1-x)(1-y), x(1-y), (1-x)y, xy) for (top-left, top-right, "
        "bottom-left, bottom-right)",
        _NEAREST_CORNER.format(" of the point's square"),
        ("layout", "resolution", "pitches"), _count_multigrid, _multigrid),
    "scale": Command(1, "z = F * zA", "A's pitch, kept", ("factor",),
                     _count_values("factor"), _scale),
    "caricature": Command(1, "z = mean + F * (zA - mean)", "A's pitch, kept",
                          ("factor", "stats"), _count_values("factor"),
                          _caricature, needs_stats=True),
    "noise": Command(1, "z = mean + std * ((zA - mean) / std + N(0, sigma))",
                     "A's pitch, kept", ("sigma", "stats"),
                     _count_values("sigma"), _noise, needs_stats=True),
    "oscillate": Command(
        2, "z = (1 - a(t)) * zA + a(t) * zB; a(t) = (1 - cos(2 pi hz t)) / "
        "2; t = frame / frame_rate",
        "the heavier input's pitch in each frame: A's while a(t) <= 0.5, "
        "else B's", ("hz",), _count_values("hz"), _oscillate),
    "analogy": Command(3, "z = zC + (zB - zA)", "C's pitch, kept", (),
                       _count_one, _analogy),
}
MEAN = "mean"  # the command that writes corpus statistics (latent_stats)
COMMAND_NAMES = (*COMMANDS, MEAN)


# ---------------------------------------------------------------------------
# Checks before the model loads.
# ---------------------------------------------------------------------------


def _options(options: dict) -> dict:
  unknown = set(options) - set(DEFAULTS)
  if unknown:
    raise TypeError(f"unknown options {sorted(unknown)}")
  opts = dict(DEFAULTS)
  opts.update({k: v for k, v in options.items() if v is not None})
  return opts


def _check_args(command: str, args: Sequence[str], opts: dict) -> None:
  if command not in COMMAND_NAMES:
    raise LatentError(f"unknown command {command!r}; commands: "
                      f"{', '.join(COMMAND_NAMES)}")
  want = 0 if command == MEAN else COMMANDS[command].inputs
  if want is None:
    if len(args) < 4:
      raise LatentError(f"{command} needs at least 4 input files, got "
                        f"{len(args)}")
  elif len(args) != want:
    names = " ".join("ABCD"[:want]) if want else "no"
    raise LatentError(f"{command} takes {names} input files, got "
                      f"{len(args)}: {' '.join(args) or '(none)'}")
  if opts["align"] not in latent_ops.ALIGN_MODES:
    raise LatentError(f"--align must be one of "
                      f"{', '.join(latent_ops.ALIGN_MODES)}")
  if opts["pitch"] is not None and command == MEAN:
    raise LatentError("--pitch is not for mean")
  if opts["pitch"] is not None and opts["pitches"]:
    raise LatentError("give --pitch (one pitch for every output) or "
                      "--pitches (one group of inputs per pitch), not both")


def _groups(command: str, args: Sequence[str],
            pitches: list[int] | None) -> list[tuple[int | None, list[str]]]:
  """[(pitch or None, input paths)]; `{pitch}` in paths is filled in."""
  templated = [a for a in args if "{pitch}" in a]
  if pitches is None:
    if templated:
      raise LatentError(f"{templated[0]}: has {{pitch}} but no --pitches")
    return [(None, list(args))]
  if command not in ("grid", "multigrid"):
    raise LatentError("--pitches is for grid and multigrid")
  if len(templated) != len(args):
    missing = [a for a in args if "{pitch}" not in a][0]
    raise LatentError(f"{missing}: with --pitches every input needs "
                      f"{{pitch}} in its path (e.g. flute_{{pitch}}.wav)")
  return [(p, [a.replace("{pitch}", str(p)) for a in args]) for p in pitches]


def _is_embedding_file(path: str) -> bool:
  return path.lower().endswith(".npy")


def _check_input(path: str, width: int) -> np.ndarray | None:
  """An `.npy` input's embeddings; checks an audio input is readable."""
  if _is_embedding_file(path):
    return embeddings_lib.load_embeddings(path, width)
  audio.info(path)
  return None


@dataclasses.dataclass
class _GroupPlan:
  """One group of inputs and where its outputs go (checked, not loaded)."""
  pitch: int | None
  paths: list[str]
  preloaded: list[np.ndarray | None]
  wavs: list[str]
  mixes: list[str] | None  # interpolate of audio: the plain audio mixes


def _plan(command: str, args: Sequence[str], opts: dict, output_dir: str,
          width: int) -> list[_GroupPlan]:
  """Every group's inputs (read if embeddings) and output paths; refuses
  existing outputs (unless `overwrite`)."""
  count = COMMANDS[command].count(opts, len(args))
  name = opts["name"] or command
  plan = []
  for pitch, paths in _groups(command, args, _pitches(opts["pitches"])):
    stem = name if pitch is None else f"{name}_p{pitch}"
    wavs = generation.output_paths(output_dir, stem, count, opts["overwrite"])
    mixes = None
    if command == "interpolate" and not any(map(_is_embedding_file, paths)):
      mixes = generation.output_paths(output_dir, f"{stem}_mix", count,
                                      opts["overwrite"])
    plan.append(_GroupPlan(pitch, paths, [_check_input(p, width)
                                          for p in paths], wavs, mixes))
  return plan


# ---------------------------------------------------------------------------
# Making the embeddings of a group.
# ---------------------------------------------------------------------------


def _load_input(model: Any, config: dict, path: str,
                preloaded: np.ndarray | None
                ) -> tuple[np.ndarray, np.ndarray | None, dict]:
  """(z `[frames, d]`, audio `[samples]` or None, description)."""
  if preloaded is not None:
    return preloaded, None, dict(path=os.path.abspath(path),
                                 kind="embeddings", frames=len(preloaded))
  samples = audio.load(path, int(config["sample_rate"]))
  window = embeddings_lib.window_samples(
      config, embeddings_lib.DEFAULT_WINDOW_SECONDS)
  z = embeddings_lib.encode_audio(model, config, samples, window)
  return z, samples, dict(path=os.path.abspath(path), kind="audio",
                          samples=len(samples), frames=len(z))


def _fit(samples: np.ndarray, length: int) -> np.ndarray:
  """Cut or zero-pad audio to `length` samples."""
  out = np.zeros([length], np.float32)
  out[:min(length, len(samples))] = samples[:length]
  return out


def make_group(command: str, zs: Sequence[np.ndarray], paths: Sequence[str],
               opts: dict, config: dict,
               stats: tuple[np.ndarray, np.ndarray] | None = None
               ) -> tuple[list[np.ndarray], list[dict], dict]:
  """A command's embeddings and descriptions for one group of inputs.

  Every formula acts on the timbre and keeps a pitch by its rule
  (`Command.pitch_rule`); `opts["pitch"]` (MIDI or None) then replaces it.

  Returns:
    (outputs `[frames, d]`, their descriptions, the alignment).
  """
  bins = int(config.get("pitch_bins") or 0)
  aligned = (latent_ops.align_all(zs, opts["align"], bins) if len(zs) > 1
             else list(zs))
  alignment = dict(mode=opts["align"] if len(zs) > 1 else None,
                   input_frames=[len(z) for z in zs],
                   frames=len(aligned[0]))
  made = COMMANDS[command].make(Group(
      aligned, list(paths), opts, bins, embeddings_lib.frame_rate(config),
      stats))
  outs = [z for z, _ in made]
  if opts["pitch"] is not None:
    outs = [latent_ops.set_pitch(z, opts["pitch"], bins,
                                 config["pitch_min_midi"]) for z in outs]
  return outs, [description for _, description in made], alignment


def _group_outputs(model: Any, config: dict, command: str,
                   group: _GroupPlan, opts: dict,
                   stats: tuple[np.ndarray, np.ndarray] | None
                   ) -> tuple[list[np.ndarray], list[dict], dict]:
  """A group's embeddings and JSON entries (writes its audio mixes)."""
  rate, hop = int(config["sample_rate"]), int(config["hop_length"])
  inputs = [_load_input(model, config, p, z)
            for p, z in zip(group.paths, group.preloaded)]
  made, descriptions, alignment = make_group(
      command, [z for z, _, _ in inputs], group.paths, opts, config, stats)
  entries = []
  for i, (z, description) in enumerate(zip(made, descriptions)):
    entry = dict(file=os.path.basename(group.wavs[i]), pitch=group.pitch,
                 index=i, **description)
    entry.update(frames=len(z), samples=len(z) * hop,
                 seconds=round(len(z) * hop / rate, 6))
    if group.mixes:
      a, length = description["alpha"], alignment["frames"] * hop
      (_, x_a, _), (_, x_b, _) = inputs
      assert x_a is not None and x_b is not None  # audio inputs
      mix = (1 - a) * _fit(x_a, length) + a * _fit(x_b, length)
      audio.save(group.mixes[i], mix, rate)
      entry["mix_file"] = os.path.basename(group.mixes[i])
    entries.append(entry)
  return made, entries, dict(pitch=group.pitch,
                             inputs=[d for _, _, d in inputs],
                             alignment=alignment)


# ---------------------------------------------------------------------------
# Rendering and the run.
# ---------------------------------------------------------------------------


def render(model: Any, config: dict, embeddings: Sequence[np.ndarray],
           paths: Sequence[str], seed: int = 0,
           temperature: float | Sequence[float] = 1.0, batch_size: int = 8,
           progress: bool = True) -> list[dict]:
  """Decodes `[frames_i, d]` embeddings to wavs of `frames * hop_length`
  samples at `paths` (`wavenet.synthesis.synthesize_embeddings`: output `i`
  has the seed `seed + i`).

  Returns:
    per output a dict (path, frames, samples, seed, temperature, ...).
  """
  from wavenet import synthesis  # pylint: disable=g-import-not-at-top
  return synthesis.synthesize_embeddings(
      model, config, [np.asarray(z, np.float32) for z in embeddings],
      list(paths), seed=seed, temperature=temperature, batch_size=batch_size,
      sidecars=False, progress=progress)


def _parameters(command: str, opts: dict, num_inputs: int) -> dict:
  parameters = {k: opts[k] for k in COMMANDS[command].parameters}
  if command == "multigrid":
    parameters["layout"] = "x".join(map(str, latent_ops.parse_layout(
        opts["layout"], num_inputs)))
  return parameters


def run_formula(command: str, args: Sequence[str], model_dir: str,
                output_dir: str | None, opts: dict,
                loaded: Loaded | None = None) -> dict:
  """Runs a command of `COMMANDS` (`run_command` with checked options)."""
  if not output_dir:
    raise LatentError(f"{command} needs --output_dir")
  saved = config_lib.load_saved(model_dir)
  embeddings_lib.check_autoencoder(saved, model_dir)
  width = embeddings_lib.embedding_width(saved)
  bins = int(saved.get("pitch_bins") or 0)
  if opts["pitch"] is not None:
    latent_ops.check_pitch(opts["pitch"], bins, saved["pitch_min_midi"])
  # Everything that can fail cheaply fails before the model loads.
  plan = _plan(command, args, opts, output_dir, width)
  temperatures = _temperatures(opts["temperature"], len(plan[0].wavs))
  json_path = os.path.join(output_dir, f"{opts['name'] or command}.json")
  files.refuse_overwrite(json_path, opts["overwrite"])
  stats = (latent_stats.load_stats(opts["stats"], width)
           if COMMANDS[command].needs_stats else None)

  model, config, step, ckpt = loaded or embeddings_lib.load_autoencoder(
      model_dir, opts["checkpoint"])
  zs, outputs, groups = [], [], []
  for group in plan:
    made, entries, info = _group_outputs(model, config, command, group, opts,
                                         stats)
    zs += made
    outputs += entries
    groups.append(info)
  all_temperatures = list(temperatures) * len(plan)
  started = time.perf_counter()
  results = render(model, config, zs, [p for g in plan for p in g.wavs],
                   seed=int(opts["seed"]), temperature=all_temperatures,
                   batch_size=int(opts["batch_size"]),
                   progress=opts["progress"])
  for entry, result in zip(outputs, results):
    entry.update(seed=int(result["seed"]),
                 temperature=float(result["temperature"]))
  info = dict(
      command=command, formula=COMMANDS[command].formula,
      inputs=[os.path.abspath(a) if "{pitch}" not in a else a for a in args],
      parameters=_parameters(command, opts, len(args)),
      alignment=opts["align"],
      corner_order=(list(latent_ops.CORNERS)
                    if command in ("grid", "multigrid") else None),
      model_dir=os.path.abspath(model_dir), checkpoint=opts["checkpoint"],
      checkpoint_path=ckpt, checkpoint_step=step,
      sample_rate=int(config["sample_rate"]),
      hop_length=int(config["hop_length"]),
      frame_rate=embeddings_lib.frame_rate(config), seed=int(opts["seed"]),
      batch_size=int(opts["batch_size"]),
      seconds_taken=round(time.perf_counter() - started, 3),
      pitch_conditioning=dict(
          pitch_bins=bins, pitch_min_midi=saved["pitch_min_midi"],
          rule=COMMANDS[command].pitch_rule, pitch=opts["pitch"])
      if bins else None,
      groups=groups, outputs=outputs)
  files.write_json(json_path, info)
  return info


def run_command(command: str, args: Sequence[str], model_dir: str,
                output_dir: str | None = None, loaded: Loaded | None = None,
                **options: Any) -> dict:
  """Runs one latent command; the CLI as a function.

  Args:
    command: one of `COMMAND_NAMES`.
    args: input paths (audio or `.npy`); with `pitches`, paths containing
      `{pitch}`.
    model_dir: a trained WaveNet autoencoder.
    output_dir: where the wavs and `<name>.json` go (not used by `mean`).
    loaded: optional `(model, config, step, checkpoint_path)` from
      `wavenet.embeddings.load_autoencoder` (reuses a loaded model and its
      compiled generator); else the model is loaded from `model_dir`.
    **options: see `DEFAULTS` (the CLI flags).

  Returns:
    the description written to `<name>.json` (for `mean`, its `.json`).

  Raises:
    LatentError, EmbeddingsError, RequestError: a bad command, input or
      option (one line).
  """
  opts = _options(options)
  args = list(args)
  _check_args(command, args, opts)
  if command == MEAN:
    return latent_stats.make_mean(
        model_dir, opts["data_dir"], opts["output"], opts["split"],
        opts["max_files"], opts["checkpoint"], opts["overwrite"],
        opts["progress"], loaded)
  return run_formula(command, args, model_dir, output_dir, opts, loaded)
