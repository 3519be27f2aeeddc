"""Smoke runs of the live benchmarks (eval/live_bench.py) on fake generators:
what they measure reacts to what happens (state drift, underruns)."""

import json
import os
import time

import numpy as np
import pytest

from common import generator as gen_lib
from common import quantization
from common.live import engine
from eval import live_bench


class ChordGenerator(gen_lib.Generator):
  """A chord (not collapsed) with a float state vector whose norm grows by
  `growth` per second of audio; `seconds_per_block` of real time per block
  (to be slower than real time)."""
  sample_rate = 8000
  q_levels = 256
  quantization = "mu_law"
  block_multiple = 8
  block_samples = 800

  def __init__(self, growth=0.0, seconds_per_block=0.0):
    self.growth, self.seconds_per_block = growth, seconds_per_block

  def start(self, request):
    return gen_lib.State(position=0, seeds=request.seeds,
                         temperatures=request.temperatures,
                         tensors=dict(h=np.ones([1, 4], np.float32),
                                      codes=np.zeros([1, 8], np.int32)))

  def next_block(self, state, num_samples, embeddings=None):
    time.sleep(self.seconds_per_block)
    n = state.position + np.arange(num_samples)
    x = (0.4 * np.sin(2 * np.pi * 440 * n / self.sample_rate) +
         0.2 * np.sin(2 * np.pi * 660 * n / self.sample_rate))
    codes = quantization.encode(x, self.quantization, self.q_levels)
    end = state.position + num_samples
    h = np.full([1, 4], 0.5 * (1 + self.growth * end / self.sample_rate),
                np.float32)  # norm 1 + growth * seconds
    return codes[None].astype(np.int32), state.replace(
        position=end, tensors=dict(state.tensors, h=h))


def _endurance(growth):
  return live_bench.endurance(
      ChordGenerator(growth), dict(model="chord"), audio_seconds=20.0,
      every_seconds=2.0, warmup_seconds=4.0, log=lambda line: None)


def test_endurance_records_memory_and_the_state_and_finds_a_growth(tmp_path):
  steady = _endurance(0.0)
  points = steady["points"]
  assert [p["audio_seconds"] for p in points] == pytest.approx(
      np.arange(2.0, 20.1, 2.0))
  assert all(p["rss_mb"] > 0 and not p["collapsed"] for p in points)
  assert set(points[0]["state_norms"]) == {"h"}  # integer codes left out
  summary = steady["summary"]
  assert summary["state"]["h"]["drift_fraction"] == pytest.approx(0.0)
  assert not summary["state_grows"]
  assert summary["fitted_from_seconds"] == pytest.approx(6.0)
  assert summary["audio_seconds"] == pytest.approx(20.0)

  # Norm 1 + 0.02 s^-1 at points 6, 8, ..., 20 s: the last quarter's mean
  # (at 19 s) is 0.24 above the first's (at 7 s), over a mean of 1.26.
  growing = _endurance(0.02)["summary"]["state"]["h"]
  assert growing["drift_fraction"] == pytest.approx(0.24 / 1.26, abs=1e-3)
  assert growing["grows"] and growing["last"] == pytest.approx(1.4)
  # The same fall is a drift but no growth (quieter music, a smaller state).
  falling = _endurance(-0.02)["summary"]
  assert falling["state"]["h"]["drift_fraction"] == pytest.approx(
      -0.24 / 0.74, abs=1e-3)
  assert not falling["state"]["h"]["grows"] and not falling["state_grows"]

  json_path, png_path = live_bench.write_result(steady, str(tmp_path))
  with open(json_path) as f:
    assert json.load(f)["summary"] == json.loads(json.dumps(summary))
  with open(png_path, "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"
  assert "state h norm" in live_bench.format_table(steady)


def test_a_player_counts_an_underrun_when_it_runs_dry():
  player = live_bench.Player(cushion_seconds=0.3)
  player.arrive(10.0, 0.2)  # not enough to start
  assert player.origin is None
  player.arrive(10.1, 0.2)  # 0.4 s: plays from 10.1
  player.arrive(10.3, 0.2)  # 0.2 s played, 0.2 s left
  assert player.underruns == 0 and player.lowest_buffer == pytest.approx(0.2)
  player.arrive(10.8, 0.1)  # played out at 10.7: an underrun; waits
  assert player.underruns == 1 and player.origin is None
  player.arrive(11.0, 0.3)  # the cushion again: plays from 0.6 s at 11.0
  player.arrive(11.3, 0.0)  # at 0.9 s of 1.0 s
  assert player.underruns == 1 and player.lowest_buffer == pytest.approx(0.1)


def _paced_stream(gen):
  return engine.LiveStream(gen, engine.LiveSettings(ahead_seconds=0.5),
                           dict(model="chord"), log=lambda line: None)


def test_paced_streaming_to_two_listeners_has_no_underrun(tmp_path):
  started = time.monotonic()
  result = live_bench.paced(_paced_stream(ChordGenerator()), minutes=2 / 60,
                            started=started, every_seconds=0.5,
                            log=lambda line: None)
  summary = result["summary"]
  assert summary["server_underruns"] == 0
  assert summary["listener_underruns"] == 0
  assert summary["listener_errors"] == 0
  assert summary["max_listeners"] == 2
  for listener in result["listeners"]:
    # Over 2 s a listener gets what played and the stream's lead: the
    # backlog on joining plus the blocks handed out ahead (<= 0.5 s).
    assert 1.5 <= listener["received_seconds"] <= 2.7
  assert 0 < summary["seconds_to_first_audio"] < 30
  assert 0 < summary["cpu_share"] < os.cpu_count()
  assert summary["rss_before_mb"] > 0 and result["points"]
  live_bench.write_result(result, str(tmp_path))
  assert sorted(os.listdir(tmp_path)) == ["live_paced.json", "live_paced.png"]


def test_a_stream_slower_than_real_time_underruns_for_its_listeners():
  slow = ChordGenerator(seconds_per_block=0.15)  # 0.1 s of audio per block
  result = live_bench.paced(_paced_stream(slow), minutes=2 / 60, listeners=1,
                            every_seconds=0.5, log=lambda line: None)
  summary = result["summary"]
  assert summary["server_underruns"] > 0
  assert summary["listener_underruns"] > 0
  assert summary["listeners_with_underruns"] == 1


def test_many_listeners_and_a_stalled_one():
  result = live_bench.many_listeners(
      _paced_stream(ChordGenerator()), listeners=4, seconds=2.0, stalled=1,
      every_seconds=0.5, log=lambda line: None)
  summary = result["summary"]
  assert summary["max_listeners"] == 5
  assert summary["listener_underruns"] == 0
  assert summary["received_seconds_min"] >= 1.5
  stalled = [h for h in result["listeners"] if h["stalled"]]
  assert len(stalled) == 1 and stalled[0]["first_byte"] is not None
