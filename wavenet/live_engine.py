"""The live instrument's engine: key presses in, PCM blocks out, in real time.

`LiveInstrument(gen, corners).blocks()` yields int16 mono blocks forever,
paced to the wall clock (at most `lead_seconds` ahead of it). Each block is
`block_frames` whole embedding frames: at its start the engine applies the
messages that arrived (keys, pad, controls), builds the frames of the
`MAX_VOICES` rows (`live_voices`, `live_sound`), and calls the generator
once for the rows that sound (one `State` of batch 4 holds a row per
voice; the sounding rows are taken out of it, decoded as a batch of 1 to 4
and put back; a new note resets its row's decoder state first). The
decoded rows are summed at `VOICE_GAIN` each (a row's frames past its
release are muted).

Messages (`receive`, from any thread; JSON-like dicts, each checked):

    {"type": "note_on", "pitch": 60}      a whole MIDI note in the model's
    {"type": "note_off", "pitch": 60}     pitch range
    {"type": "all_off"}
    {"type": "pad", "x": 0.3, "y": 0.8}   both in [0, 1]
    {"type": "controls", "scale": 1.2, ...}   any of `live_sound.Controls`

A message that is not one of these raises `live_sound.ControlError`.

Health (`status()`): the real-time factor of recent blocks (audio seconds
per second of work; below 1 the instrument cannot keep up), how far it
runs ahead, late blocks (handed out after the clock said they were due:
a player holding exactly what is ahead would have run dry; the page counts
its own underruns), the lead (it adapts: each late block while a voice
sounds adds a block to it, up to `max_lead_seconds`; `LEAD_RELAX_SECONDS`
without one take a block back, down to the lead asked for), and the
key-to-sound latency the server sees: from a key-down's arrival to the
moment its first sample is due to play (handed out + what was ahead).
"""

from __future__ import annotations

import collections
import threading
import time
from typing import Any, Callable, Iterator

import numpy as np

from common import generator as generator_lib
from common import quantization
from common import state_rows
from common.live import engine as live_engine
from wavenet import live_sound
from wavenet import live_voices
from wavenet.live_sound import ControlError

# Each voice's level in the sum (4 loud voices stay near full scale).
VOICE_GAIN = 0.5
# The shortest block: whole frames of at least this many samples (the
# generator's per-call overhead stays small against the block).
MIN_BLOCK_SAMPLES = 512
LEAD_SECONDS = 0.1
# The lead grows to at most this after late blocks (a machine busier than
# the lead allows for: the margin buys back what the jitter takes, paid in
# key latency), and relaxes a block at a time after this long without one.
MAX_LEAD_SECONDS = 0.25
LEAD_RELAX_SECONDS = 60.0
RECENT_BLOCKS = 16
# Past this position the stream restarts the rows at 0 when all are free
# (the generators count samples in int32).
POSITION_LIMIT = 2**30


class LiveError(ValueError):
  """A setting the live instrument cannot run with (one line)."""


def block_frames(samples_per_frame: int,
                 min_samples: int = MIN_BLOCK_SAMPLES) -> int:
  """Frames per block: the fewest whole frames of at least `min_samples`."""
  return max(1, -(-int(min_samples) // int(samples_per_frame)))


def check_pitch(value: Any, low: int, high: int) -> int:
  """A key: a whole MIDI note in `[low, high]`; ControlError otherwise."""
  return int(live_sound.check_number("pitch", value, low, high, integer=True))


class LiveInstrument:
  """The engine (see the module doc).

  Args:
    gen: an autoencoder's generator (`wavenet.fastgen.generator`).
    corners: the encoded corner sounds (`live_corners.load_corners`).
    info: shown in `status()` (model, checkpoint, ...).
    seed: row `i` samples with the seed `seed + i`.
    temperature: sampling temperature of every row.
    lead_seconds: paced: the most audio handed out beyond the wall clock
      (at first: see the module doc).
    max_lead_seconds: the most the lead grows to after late blocks
      (default: `MAX_LEAD_SECONDS`, or `lead_seconds` if larger); equal to
      `lead_seconds`: a fixed lead.
    frames_per_block: frames per block (default `block_frames`).
    pace: False: as fast as possible (tests).
    clock, sleep: the wall clock in seconds and a sleep (tests fake them).
  """

  def __init__(self, gen: generator_lib.Generator,
               corners: live_sound.Corners, info: dict | None = None,
               seed: int = 0, temperature: float = 1.0,
               lead_seconds: float = LEAD_SECONDS,
               max_lead_seconds: float | None = None,
               frames_per_block: int | None = None, pace: bool = True,
               clock: Callable[[], float] = time.monotonic,
               sleep: Callable[[float], None] = time.sleep) -> None:
    hop = gen.samples_per_frame
    if hop is None or gen.embedding_width != corners.embeddings.shape[-1]:
      raise generator_lib.RequestError(
          f"the corners' embeddings are {corners.embeddings.shape[-1]} wide; "
          f"the generator's are {gen.embedding_width}")
    self.gen = gen
    self.corners = corners
    self.sample_rate = int(gen.sample_rate)
    self.info = dict(info or {})
    self.frames_per_block = frames_per_block or block_frames(hop)
    self.block_samples = self.frames_per_block * hop
    self.lead_seconds = float(lead_seconds)
    block_seconds = self.block_samples / self.sample_rate
    if not self.lead_seconds > block_seconds:
      raise LiveError(f"--lead_seconds={lead_seconds:g} must be more than a "
                      f"block ({block_seconds:g} s)")
    self.start_lead_seconds = self.lead_seconds
    self.max_lead_seconds = (max(self.lead_seconds, MAX_LEAD_SECONDS)
                             if max_lead_seconds is None
                             else float(max_lead_seconds))
    if not self.max_lead_seconds >= self.lead_seconds:
      raise LiveError(f"--max_lead_seconds={max_lead_seconds:g} must be at "
                      f"least --lead_seconds ({lead_seconds:g})")
    self.pace = pace
    self._clock, self._sleep = clock, sleep
    self._request = generator_lib.Request.make(
        live_voices.MAX_VOICES, seed, temperature,
        embeddings=np.zeros([live_voices.MAX_VOICES, 1,
                             corners.embeddings.shape[-1]], np.float32))
    self._axes = state_rows.batch_axes(gen, self._request)
    self._fresh = gen.start(self._request)
    self._lock = threading.Lock()
    self._events: collections.deque[tuple[str, int, float]] = (
        collections.deque())
    self.voices = live_voices.Voices(corners.frames, corners.held_frames)
    self.position = (0.5, 0.5)
    self.controls = live_sound.Controls()
    self._silence = np.zeros([corners.embeddings.shape[-1]], np.float32)
    self._created = clock()
    self._epoch: float | None = None
    self._handed = 0
    self._blocks = 0
    self._recent: collections.deque[tuple[int, float]] = collections.deque(
        maxlen=RECENT_BLOCKS)
    self._latencies: collections.deque[float] = collections.deque(maxlen=32)
    self.late_blocks = 0
    self._lead_changed = self._created
    self.messages = 0
    self._warm_up()

  def _warm_up(self) -> None:
    """Makes what a first key-down would make slowly (the pitch two-hots
    of every key, the first row reset), so it costs no latency."""
    low, high = self.corners.pitch_range
    for pitch in range(low, high + 1):
      live_sound.pitch_two_hot(pitch, self.corners.pitch_bins,
                               self.corners.min_midi)
    state_rows.reset_rows(self._fresh, self._fresh, [0], self._axes)

  # -- messages (any thread) ----------------------------------------------------

  def receive(self, message: Any) -> None:
    """Checks a message (the module doc) and applies it at the next block.

    Raises:
      ControlError: not a known, well-formed message.
    """
    if not isinstance(message, dict) or not isinstance(
        message.get("type"), str):
      raise ControlError("message: expected a JSON object with a \"type\"")
    kind = message["type"]
    rest = {k: v for k, v in message.items() if k != "type"}
    low, high = self.corners.pitch_range
    if kind in ("note_on", "note_off"):
      _expect_keys(kind, rest, {"pitch"})
      pitch = check_pitch(rest["pitch"], low, high)
      event = (kind, pitch, self._clock())
    elif kind == "all_off":
      _expect_keys(kind, rest, set())
      event = (kind, 0, self._clock())
    elif kind == "pad":
      _expect_keys(kind, rest, {"x", "y"})
      x, y = (live_sound.check_number(k, rest[k], 0.0, 1.0) for k in "xy")
      with self._lock:
        self.position = (x, y)
        self.messages += 1
      return
    elif kind == "controls":
      if not rest:
        raise ControlError("controls: no control given")
      with self._lock:
        self.controls = self.controls.changed(rest)
        self.messages += 1
      return
    else:
      raise ControlError(f"message: unknown type {live_sound.shown(kind)} "
                         "(note_on, note_off, all_off, pad, controls)")
    with self._lock:
      self._events.append(event)
      self.messages += 1

  # -- status -------------------------------------------------------------------

  def status(self) -> dict[str, Any]:
    """JSON-ready health and state (the module doc)."""
    with self._lock:
      now = self._clock()
      played = self._handed
      if self._epoch is not None and self.pace:
        played = min(self._handed,
                     int((now - self._epoch) * self.sample_rate))
      samples = sum(n for n, _ in self._recent)
      seconds = sum(s for _, s in self._recent)
      latencies = sorted(self._latencies)
      low, high = self.corners.pitch_range
      return dict(
          self.info, sample_rate=self.sample_rate,
          block_samples=self.block_samples,
          uptime_seconds=round(now - self._created, 3),
          samples_generated=self._handed,
          real_time_factor=(round(samples / self.sample_rate / seconds, 3)
                            if seconds > 0 else None),
          ahead_seconds=round((self._handed - played) / self.sample_rate, 3),
          late_blocks=self.late_blocks, messages=self.messages,
          lead_seconds=round(self.lead_seconds, 3),
          lead_range=[self.start_lead_seconds, self.max_lead_seconds],
          note_latency_ms=(round(1000 * latencies[len(latencies) // 2], 1)
                           if latencies else None),
          last_note_latency_ms=(round(1000 * self._latencies[-1], 1)
                                if latencies else None),
          voices=self.voices.describe(), pad=dict(
              x=self.position[0], y=self.position[1]),
          controls=dict(vars(self.controls)), pitch_range=[low, high],
          corners=list(self.corners.names))

  # -- the stream ---------------------------------------------------------------

  def blocks(self) -> Iterator[np.ndarray]:
    """Endless int16 PCM blocks `[block_samples]`, paced (module doc).

    Each block is made just in time: the engine first waits until the
    audio handed out runs less than `lead_seconds - block` ahead of the
    clock, then applies the messages and decodes, so a key-down waits at
    most a block for its block and then `lead_seconds - block` (what is
    ahead) for its first sample to be due."""
    state = self._fresh
    while True:
      if state.position + 2 * self.block_samples > POSITION_LIMIT and all(
          v is None for v in self.voices.rows):
        state = self._fresh
      self._wait_for_room()
      started = self._clock()
      state, audio, new_notes, sounding = self._next(state)
      pcm = live_engine.to_pcm16(audio)
      now = self._clock()
      with self._lock:
        self._recent.append((len(pcm), now - started))
        if self._epoch is None:
          self._epoch = now
        ahead = self._handed / self.sample_rate - (now - self._epoch)
        if ahead < 0 and self.pace:  # late: the player restarts from here
          self.late_blocks += 1
          self._epoch -= ahead
          if sounding:  # (silence late is inaudible, and costs no work)
            self._adapt_lead(now, late=True)
        elif self.pace:
          self._adapt_lead(now, late=False)
        due = self._epoch + self._handed / self.sample_rate
        self._handed += len(pcm)
        self._blocks += 1
        for requested in new_notes:
          self._latencies.append(due - requested)
      yield pcm

  def _adapt_lead(self, now: float, late: bool) -> None:
    """A late block adds a block to the lead (up to the most);
    `LEAD_RELAX_SECONDS` without one take a block back (down to the
    lead asked for). Under the lock."""
    block = self.block_samples / self.sample_rate
    if late:
      self.lead_seconds = min(self.max_lead_seconds, self.lead_seconds + block)
      self._lead_changed = now
    elif (self.lead_seconds > self.start_lead_seconds
          and now - self._lead_changed >= LEAD_RELAX_SECONDS):
      self.lead_seconds = max(self.start_lead_seconds,
                              self.lead_seconds - block)
      self._lead_changed = now

  def _wait_for_room(self) -> None:
    """Paced: sleeps until the audio ahead of the clock is at most
    `lead_seconds` minus a block."""
    if not self.pace or self._epoch is None:
      return
    with self._lock:
      ahead = self._handed / self.sample_rate - (self._clock() - self._epoch)
      lead = self.lead_seconds
    wait = ahead + self.block_samples / self.sample_rate - lead
    if wait > 0:
      self._sleep(wait)

  def _next(self, state: generator_lib.State
            ) -> tuple[generator_lib.State, np.ndarray, list[float], bool]:
    """Applies the waiting messages, decodes one block of every row and
    mixes the sounding ones: (state, float32 audio `[block_samples]`, the
    arrival times of the notes that start in it, whether any voice sounded
    in it: a note's last block too, though its voice is free after it)."""
    with self._lock:
      events, self._events = list(self._events), collections.deque()
      x, y = self.position
      controls = self.controls
    restarted: dict[int, float] = {}
    for kind, pitch, requested in events:
      if kind == "note_on":
        restarted[self.voices.note_on(pitch, requested)] = requested
      elif kind == "note_off":
        self.voices.note_off(pitch)
      else:
        self.voices.all_off()
    state = state_rows.reset_rows(state, self._fresh, sorted(restarted),
                                  self._axes)
    pitches = [None if v is None else v.pitch for v in self.voices.rows]
    index, sounding = self.voices.advance(self.frames_per_block)
    frames = self._frames(state, pitches, index, sounding, x, y, controls)
    active = [row for row in range(len(pitches)) if sounding[row].any()]
    audio = np.zeros([len(pitches), self.block_samples], np.float32)
    if active:  # only the sounding rows are decoded (batch 1 to 4)
      part = state_rows.take_rows(state, active, self._axes)
      codes, part = self.gen.next_block(part, self.block_samples,
                                        frames[active])
      state = state_rows.put_rows(state, part, active, self._axes)
      audio[active] = quantization.decode(codes, self.gen.quantization,
                                          self.gen.q_levels)
    else:
      state = state.replace(position=state.position + self.block_samples)
    hop = self.gen.samples_per_frame or 1
    gain = np.repeat(sounding, hop, axis=1) * VOICE_GAIN
    return state, np.sum(audio * gain, axis=0).astype(np.float32), list(
        restarted.values()), bool(active)

  def _frames(self, state: generator_lib.State, pitches: list[int | None],
              index: np.ndarray, sounding: np.ndarray, x: float, y: float,
              controls: live_sound.Controls) -> np.ndarray:
    """The block's embedding frames float32 `[rows, frames, d]`: each
    sounding frame from `live_sound.voice_frames`, silence elsewhere."""
    rows, count = index.shape
    frames = np.broadcast_to(self._silence, (rows, count) + self._silence.shape
                             ).copy()
    hop = self.gen.samples_per_frame or 1
    absolute = state.position // hop + np.arange(count)
    weights = live_sound.corner_weights(x, y, controls, absolute,
                                        self.corners.frame_rate)
    for row, pitch in enumerate(pitches):
      if pitch is None or not sounding[row].any():
        continue
      on = sounding[row]
      frames[row, on] = live_sound.voice_frames(
          self.corners, pitch, index[row, on], weights[:, on], controls,
          noise_seed=(self._blocks * live_voices.MAX_VOICES + row) % 2**32)
    return frames


def _expect_keys(kind: str, given: dict, wanted: set[str]) -> None:
  if set(given) != wanted:
    names = ", ".join(sorted(wanted)) or "nothing else"
    raise ControlError(f"{kind}: expected {names}; got "
                       f"{live_sound.shown(sorted(given))}")


def measure_real_time(gen: generator_lib.Generator, frames_per_block: int,
                      repeats: int = 3,
                      clock: Callable[[], float] = time.perf_counter
                      ) -> dict[int, float]:
  """The real-time factor of one block for 1 to `MAX_VOICES` sounding
  voices (audio seconds per second of compute; the median of `repeats`
  after a block that compiles that batch size, so no key waits for a
  compile later): >= 1 keeps up with playback.

  Returns:
    {voices: factor}.
  """
  hop = gen.samples_per_frame or 1
  factors = {}
  for rows in range(1, live_voices.MAX_VOICES + 1):
    frames = np.zeros([rows, frames_per_block, gen.embedding_width or 0],
                      np.float32)
    state = gen.start(generator_lib.Request.make(rows, embeddings=frames))
    times = []
    for _ in range(repeats + 1):
      started = clock()
      _, state = gen.next_block(state, frames_per_block * hop, frames)
      times.append(clock() - started)
    seconds = float(np.median(times[1:]))
    factors[rows] = frames_per_block * hop / gen.sample_rate / max(
        seconds, 1e-9)
  return factors
