"""An endless live stream of a model's audio, paced to real time.

`LiveStream(generator, settings, info).blocks()` yields int16 mono PCM
blocks forever: each is the generator's next block (`common.generator`:
one compiled `next_block` call from an explicit `State` of one sequence),
decoded with the model's quantization. Paced (the default), the stream
stays at most `ahead_seconds` ahead of the wall clock since its first block
and sleeps otherwise, so it uses only the CPU it needs; a block that comes
later than the clock says it is due is an underrun (counted; the clock then
restarts from the late block, as a player that ran dry does).

Controls may be called from any thread and apply at the next block:
`set_temperature`, `set_seed` (the state simply carries the new values
from there on: the audio goes on without a break), `prime` (a clip's codes
start a new sequence) and `reset` (the initial state). A new sequence is
crossfaded with the old one over `crossfade_seconds` (equal power), so the
switch does not click.

The collapse watchdog tests the output in `chunk_seconds` chunks with the
collapse detector of `eval.coherence` (`common.collapse`: silence, a stuck
tone or noise). After `watchdog_seconds` of collapsed chunks the stream
re-primes from a random clip of `prime_dir` (or resets when there is none),
crossfaded, and counts the recovery in `status()`.

A sample's noise is keyed by its position (`common.sampling`); the position
is carried across primes and resets, and every `POSITION_LIMIT` samples
(18.6 hours at 16 kHz) the stream moves on to the next seed from position 0,
inside the int32 range the generators count in.
"""

from __future__ import annotations

import collections
import dataclasses
import os
import sys
import threading
import time
from typing import Any, Callable, Iterator

import numpy as np

from common import audio as audio_lib
from common import collapse
from common import generator as generator_lib
from common import quantization

TEMPERATURE_RANGE = (0.0, 2.0)
# A prime keeps the clip's last seconds (teacher forcing costs time).
MAX_PRIME_SECONDS = 10.0
# The real-time factor is measured over this many recent blocks.
RECENT_BLOCKS = 8
POSITION_LIMIT = 2**30


class LiveError(ValueError):
  """A stream that cannot run as asked (a user error: one line)."""


def check_temperature(temperature: Any) -> float:
  """A temperature within `TEMPERATURE_RANGE`; RequestError otherwise."""
  low, high = TEMPERATURE_RANGE
  try:
    value = float(temperature)
  except (TypeError, ValueError):
    value = float("nan")
  if isinstance(temperature, bool) or not low <= value <= high:
    raise generator_lib.RequestError(
        f"temperature {temperature!r} must be a number in {low:g}..{high:g}")
  return value


def check_seed(seed: Any) -> int:
  """A whole-number seed in 0..2**32-1; RequestError otherwise."""
  if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or (
      not 0 <= int(seed) <= generator_lib.MAX_SEED):
    raise generator_lib.RequestError(
        f"seed {seed!r} must be a whole number in 0..{generator_lib.MAX_SEED}")
  return int(seed)


@dataclasses.dataclass(frozen=True)
class LiveSettings:
  """How a live stream runs.

  Attributes:
    temperature: sampling temperature at the start, in `TEMPERATURE_RANGE`.
    seed: the sequence's seed at the start.
    ahead_seconds: paced, the most audio handed out beyond the wall clock.
    pace: False: as fast as possible (files, pipes into files, tests).
    buffer_seconds: paced, audio generated before the first block is handed
      out (and kept ahead after): lets a model slower than real time play
      for a while.
    watchdog_seconds: collapsed time before a recovery; 0 turns the
      watchdog off.
    crossfade_seconds: the crossfade of a prime, reset or recovery.
    prime_dir: a folder of clips the watchdog (and the page) primes from.
    chunk_seconds: the watchdog's chunk (as `eval.coherence.collapse`).
  """
  temperature: float = 1.0
  seed: int = 0
  ahead_seconds: float = 2.0
  pace: bool = True
  buffer_seconds: float = 0.0
  watchdog_seconds: float = 10.0
  crossfade_seconds: float = 0.05
  prime_dir: str | None = None
  chunk_seconds: float = 5.0

  def __post_init__(self) -> None:
    check_temperature(self.temperature)
    check_seed(self.seed)
    for name in ("ahead_seconds", "buffer_seconds", "watchdog_seconds",
                 "crossfade_seconds"):
      if not getattr(self, name) >= 0:
        raise LiveError(f"{name} must be >= 0, got {getattr(self, name)}")
    if not self.chunk_seconds > 0:
      raise LiveError(f"chunk_seconds must be > 0, got {self.chunk_seconds}")


def to_pcm16(audio: np.ndarray) -> np.ndarray:
  """float `[n]` in [-1, 1] (clipped) -> int16 `[n]` (full scale 32767)."""
  return np.round(np.clip(audio, -1.0, 1.0) * 32767.0).astype(np.int16)


def crossfade(old: np.ndarray, new: np.ndarray) -> np.ndarray:
  """Equal-power crossfade from `old` to `new`, float `[n]` each.

  The weights are cos/sin of a quarter turn over samples 1..n of n + 1
  steps, so the first sample is nearly all `old` (the continuation of what
  played before) and the last nearly all `new`; two unrelated signals keep
  their loudness through it.
  """
  angle = np.pi / 2 * np.arange(1, len(old) + 1) / (len(old) + 1)
  return (old * np.cos(angle) + new * np.sin(angle)).astype(np.float32)


def check_real_time(gen: generator_lib.Generator,
                    clock: Callable[[], float] = time.perf_counter) -> float:
  """The generator's real-time factor on one sequence: seconds of audio per
  second of compute over one standard block (after a short block that
  compiles it). >= 1 keeps up with playback."""
  state = gen.start(generator_lib.Request.make(1))
  _, state = gen.next_block(state, gen.block_multiple)
  started = clock()
  gen.next_block(state, gen.block_samples)
  return gen.block_samples / gen.sample_rate / max(clock() - started, 1e-9)


def clip_paths(prime_dir: str | None) -> dict[str, str]:
  """{name relative to `prime_dir`: path} of its audio files ({} if None).

  Raises:
    LiveError: `prime_dir` holds no audio file.
  """
  if prime_dir is None:
    return {}
  try:
    paths = audio_lib.find_audio_files([prime_dir])
  except audio_lib.AudioError as e:
    raise LiveError(str(e)) from None
  if not paths:
    raise LiveError(f"{prime_dir}: no audio files to prime from")
  return {os.path.relpath(p, os.path.abspath(prime_dir)): p for p in paths}


def _clip_tail(path: str, sample_rate: int, samples: int) -> np.ndarray:
  """The last `samples` of an audio file (float32 `[<= samples]`), read in
  blocks so a long file does not fill the memory."""
  tail = np.zeros([0], np.float32)
  for block in audio_lib.stream(path, sample_rate):
    tail = np.concatenate([tail, block])[-samples:]
  return tail


@dataclasses.dataclass
class _Restart:
  """A new sequence to start at the next block: from `codes` (int32 `[n]`)
  or the initial state (None)."""
  codes: np.ndarray | None
  source: str


class LiveStream:
  """An endless stream of one sequence of a model (see the module doc)."""

  def __init__(self, generator: generator_lib.Generator,
               settings: LiveSettings, info: dict,
               clock: Callable[[], float] = time.monotonic,
               sleep: Callable[[float], None] = time.sleep,
               log: Callable[[str], None] | None = None,
               model: Any = None) -> None:
    """
    Args:
      generator: an unconditional generator (`common.generator`).
      settings: how to run.
      info: what is playing, shown by `status()` (model, checkpoint,
        model_dir, ...).
      clock, sleep: the wall clock in seconds and a sleep (tests fake them).
      log: prints a line (watchdog recoveries); default stderr.
      model: the model the generator reads, kept alive by the stream (a
        family's generator holds its model weakly).

    Raises:
      LiveError: a conditioned generator (an autoencoder), or `prime_dir`
        without audio.
    """
    if generator.conditioned:
      raise LiveError("an autoencoder decodes embeddings of audio and cannot "
                      "stream on its own; use an unconditional model")
    self.generator = generator
    self.model = model
    self.settings = settings
    self.info = dict(info)
    self.sample_rate = int(generator.sample_rate)
    self._clock, self._sleep = clock, sleep
    self._log = log or (lambda line: print(line, file=sys.stderr))
    self._clips = clip_paths(settings.prime_dir)
    self._rng = np.random.default_rng(settings.seed)
    self._lock = threading.Lock()
    self._temperature = settings.temperature
    self._seed = settings.seed
    self._restart: _Restart | None = None
    multiple = generator.block_multiple
    fade = int(round(settings.crossfade_seconds * self.sample_rate))
    self._fade = min(-(-fade // multiple) * multiple, generator.block_samples)
    self._created = clock()
    self._epoch: float | None = None  # the wall clock of sample 0
    self._handed = 0  # samples handed out by `blocks()`
    self._recent: collections.deque[tuple[int, float]] = collections.deque(
        maxlen=RECENT_BLOCKS)
    self._underruns = self._collapses = self._recoveries = 0
    self._collapsed_seconds = 0.0
    self._watched: list[np.ndarray] = []
    self._playing = "initial state"

  # -- controls (any thread; applied at the next block) ----------------------

  def set_temperature(self, temperature: float) -> None:
    """Raises RequestError outside `TEMPERATURE_RANGE`."""
    value = check_temperature(temperature)
    with self._lock:
      self._temperature = value

  def set_seed(self, seed: int) -> None:
    """Raises RequestError unless a whole number in 0..2**32-1."""
    value = check_seed(seed)
    with self._lock:
      self._seed = value

  def prime(self, audio: np.ndarray, source: str) -> None:
    """Starts a new sequence continuing `audio` (float32 `[n]` at the
    model's rate; its last `MAX_PRIME_SECONDS`, cut to whole blocks of
    `block_multiple`), crossfaded.

    Raises:
      RequestError: the model cannot be primed, or the clip is too short or
        not finite.
    """
    if not self.generator.can_prime:
      raise generator_lib.RequestError(
          f"{source}: this model cannot continue primed audio")
    audio = np.asarray(audio, np.float32).reshape(-1)
    multiple = self.generator.block_multiple
    keep = min(len(audio), int(MAX_PRIME_SECONDS * self.sample_rate))
    keep -= keep % multiple
    if keep == 0:
      raise generator_lib.RequestError(
          f"{source}: too short to prime from; needs at least {multiple} "
          f"samples ({multiple / self.sample_rate * 1000:.0f} ms)")
    if not np.all(np.isfinite(audio[-keep:])):
      raise generator_lib.RequestError(f"{source}: NaN or Inf samples")
    codes = quantization.encode(audio[-keep:], self.generator.quantization,
                                self.generator.q_levels)
    with self._lock:
      self._restart = _Restart(np.asarray(codes, np.int32), source)

  def clip_names(self) -> list[str]:
    """The clips of `prime_dir` (names relative to it), sorted."""
    return sorted(self._clips)

  def prime_clip(self, name: str) -> None:
    """`prime` from the clip `name` of `clip_names()` (nothing else).

    Raises:
      RequestError: not one of the clips (or see `prime`).
      AudioError: the clip cannot be decoded.
    """
    if name not in self._clips:
      raise generator_lib.RequestError(f"{name!r} is not a clip of the "
                                       f"prime folder")
    samples = int(MAX_PRIME_SECONDS * self.sample_rate)
    self.prime(_clip_tail(self._clips[name], self.sample_rate, samples), name)

  def reset(self) -> None:
    """Starts a new sequence from the initial state, crossfaded."""
    with self._lock:
      self._restart = _Restart(None, "initial state")

  # -- status ------------------------------------------------------------------

  def status(self) -> dict:
    """What is playing and how the stream is doing (JSON-ready).

    Keys: the `info` given (`load_stream` adds
    measured_real_time_factor, from `check_real_time`), sample_rate, temperature, seed, playing (the
    prime's source or "initial state"), uptime_seconds, samples_generated,
    samples_played (by the wall clock; all handed out when not paced),
    real_time_factor (seconds of audio per second of generation, recent
    blocks; None before the first), ahead_seconds (handed out beyond the
    wall clock), underruns, collapses (collapsed episodes), recoveries,
    collapsed_seconds (of the current episode).
    """
    with self._lock:
      now = self._clock()
      handed = self._handed
      played = handed
      if self._epoch is not None and self.settings.pace:
        played = min(handed, int((now - self._epoch) * self.sample_rate))
      samples = sum(n for n, _ in self._recent)
      seconds = sum(s for _, s in self._recent)
      return dict(
          self.info, sample_rate=self.sample_rate,
          temperature=self._temperature, seed=self._seed,
          playing=self._playing,
          uptime_seconds=round(now - self._created, 3),
          samples_generated=handed, samples_played=played,
          real_time_factor=(round(samples / self.sample_rate / seconds, 3)
                            if seconds > 0 else None),
          ahead_seconds=round((handed - played) / self.sample_rate, 3),
          underruns=self._underruns, collapses=self._collapses,
          recoveries=self._recoveries,
          collapsed_seconds=self._collapsed_seconds)

  # -- the stream ----------------------------------------------------------------

  def blocks(self) -> Iterator[np.ndarray]:
    """Endless int16 PCM blocks `[generator.block_samples]`, paced (see the
    module doc). The first `buffer_seconds` are handed out together. One
    stream, one call: the status counts this iterator's blocks."""
    held: list[np.ndarray] = []
    buffer = int(self.settings.buffer_seconds * self.sample_rate)
    for audio in self._generated():
      pcm = to_pcm16(audio)
      if self._epoch is None:
        held.append(pcm)
        if self.settings.pace and sum(map(len, held)) < buffer:
          continue
        with self._lock:
          self._epoch = self._clock()
        for block in held:
          yield self._hand_out(block)
        held = []
        continue
      self._wait_for_room(len(pcm))
      yield self._hand_out(pcm)

  def _hand_out(self, pcm: np.ndarray) -> np.ndarray:
    with self._lock:
      self._handed += len(pcm)
    return pcm

  def _wait_for_room(self, samples: int) -> None:
    """Paced: counts an underrun if the block is late; sleeps until handing
    it out keeps the stream within its lead of the wall clock."""
    if not self.settings.pace or self._epoch is None:
      return
    lead = max(self.settings.ahead_seconds, self.settings.buffer_seconds)
    ahead = self._handed / self.sample_rate - (self._clock() - self._epoch)
    if ahead < 0:
      with self._lock:
        self._underruns += 1
        self._epoch -= ahead  # the player starts again from this block
      return
    wait = ahead + samples / self.sample_rate - lead
    if wait > 0:
      self._sleep(wait)

  def _generated(self) -> Iterator[np.ndarray]:
    """Endless decoded blocks, float32 `[block_samples]`, with the controls
    and the watchdog applied."""
    gen = self.generator
    if self.settings.watchdog_seconds:
      collapse.is_collapsed(np.zeros(self.sample_rate, np.float32))  # loads
      # librosa's lazy parts (seconds) before the clock starts
    state = gen.start(generator_lib.Request.make(1, self._seed,
                                                 self._temperature))
    while True:
      state, restart = self._apply_controls(state)
      started = self._clock()
      tail = None
      if restart is not None:
        tail, state = self._restarted(state, restart)
      codes, state = gen.next_block(state, gen.block_samples)
      audio = quantization.decode(codes[0], gen.quantization, gen.q_levels)
      if tail is not None:
        audio[:len(tail)] = crossfade(tail, audio[:len(tail)])
      with self._lock:
        self._recent.append((len(audio), self._clock() - started))
      self._watch(audio)
      yield audio

  def _apply_controls(self, state: generator_lib.State
                      ) -> tuple[generator_lib.State, _Restart | None]:
    """The state with the latest temperature and seed (the next seed from
    position 0 past `POSITION_LIMIT`), and the restart asked for."""
    with self._lock:
      if state.position + 2 * self.generator.block_samples > POSITION_LIMIT:
        self._seed = (self._seed + 1) % (generator_lib.MAX_SEED + 1)
        state = state.replace(position=0)
      restart, self._restart = self._restart, None
      return state.replace(seeds=(self._seed,),
                           temperatures=(self._temperature,)), restart

  def _restarted(self, state: generator_lib.State, restart: _Restart
                 ) -> tuple[np.ndarray | None, generator_lib.State]:
    """(the old sequence's next `crossfade` samples, float32, or None; the
    new sequence's state at the old one's position)."""
    gen = self.generator
    tail = None
    if self._fade:
      codes, _ = gen.next_block(state, self._fade)
      tail = quantization.decode(codes[0], gen.quantization, gen.q_levels)
    prime = None if restart.codes is None else restart.codes[None]
    new = gen.start(generator_lib.Request(
        seeds=state.seeds, temperatures=state.temperatures,
        prime_codes=prime))
    with self._lock:
      self._playing = restart.source
    return tail, new.replace(position=state.position)

  def _watch(self, audio: np.ndarray) -> None:
    """Feeds the watchdog; tests each whole chunk; recovers when due."""
    settings = self.settings
    if not settings.watchdog_seconds:
      return
    self._watched.append(audio)
    chunk = int(round(settings.chunk_seconds * self.sample_rate))
    while sum(map(len, self._watched)) >= chunk:
      joined = np.concatenate(self._watched)
      self._watched = [joined[chunk:]]
      collapsed = collapse.is_collapsed(joined[:chunk])
      with self._lock:
        if not collapsed:
          self._collapsed_seconds = 0.0
          continue
        if not self._collapsed_seconds:
          self._collapses += 1
        self._collapsed_seconds += settings.chunk_seconds
        due = self._collapsed_seconds >= settings.watchdog_seconds
      if due:
        self._recover()
        return

  def _recover(self) -> None:
    """Re-primes from a random clip of `prime_dir`, or resets."""
    names = self.clip_names() if self.generator.can_prime else []
    source = "initial state"
    if names:
      name = names[int(self._rng.integers(len(names)))]
      try:
        self.prime_clip(name)
        source = name
      except (audio_lib.AudioError, generator_lib.RequestError) as e:
        self._log(f"watchdog: cannot prime from {name} ({e}); resetting")
    if source == "initial state":
      self.reset()
    with self._lock:
      self._recoveries += 1
      self._collapsed_seconds = 0.0
    self._watched = []
    self._log(f"watchdog: collapsed for {self.settings.watchdog_seconds:g} s;"
              f" starting again from {source}")


def load_stream(model_dir: str, settings: LiveSettings,
                checkpoint: str = "best", family: str | None = None,
                log: Callable[[str], None] | None = None) -> LiveStream:
  """A model directory's live stream, checked to keep up with real time.

  Args:
    model_dir: a trained (or pretrained) model directory.
    settings: how to run.
    checkpoint: "best", "last" or a checkpoint path prefix.
    family: the family the model must be of (a family's own command), or
      None for any.
    log: prints a line (default stderr).

  Raises:
    LiveError: a model of another family, an autoencoder, or one slower
      than real time (its measured real-time factor) without
      `buffer_seconds`.
    ConfigError, CheckpointError, FileNotFoundError: `common.checkpoint.load`.
  """
  # pylint: disable=g-import-not-at-top
  from common import checkpoint as checkpoint_lib
  from common import config as config_lib
  from common import family as family_lib
  saved = config_lib.load_saved(model_dir)
  if family is not None and saved.get("family") != family:
    raise LiveError(f"{model_dir}: is a {saved.get('family')} model, not a "
                    f"{family} one")
  plugin = family_lib.of_config(saved)
  loaded = checkpoint_lib.load(model_dir, plugin.build_model, checkpoint)
  gen = plugin.generator(loaded.model, loaded.config)
  if gen.conditioned:
    raise LiveError(f"{model_dir}: an autoencoder decodes embeddings of "
                    f"audio and cannot stream on its own; use an "
                    f"unconditional model")
  info = dict(model=os.path.basename(os.path.normpath(model_dir)),
              model_dir=os.path.abspath(model_dir), family=plugin.name,
              checkpoint=os.path.basename(loaded.path),
              checkpoint_step=loaded.step)
  stream = LiveStream(gen, settings, info, log=log, model=loaded.model)
  if settings.pace:
    factor = check_real_time(gen)
    stream.info["measured_real_time_factor"] = round(factor, 3)
    if factor < 1 and not settings.buffer_seconds:
      raise LiveError(
          f"{model_dir}: generates at {factor:.2f}x real time on this "
          f"machine, too slow to stream; give --buffer_seconds to play from "
          f"a buffer generated ahead first (it then plays for about "
          f"buffer_seconds / {1 - factor:.2f} seconds before it runs dry)")
  return stream
