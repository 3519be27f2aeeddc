"""eval.context_validation: the synthetic melodies, the verdicts, and the
whole benchmark end to end at a tiny size (models trained a few steps: no
learned gain is asserted here; the full benchmark's result is in the
README)."""

import json
import os

import numpy as np
import pytest

from eval import context_validation as cv


def _melodies(**changes):
  return cv.Melodies(**{**dict(sample_rate=1000, file_seconds=6.0,
                               num_files=2), **changes})


def _onsets(x):
  """Where each note after the first starts."""
  return np.flatnonzero(np.diff(x)) + 1


@pytest.mark.parametrize("seed", range(5))
def test_a_repeating_melody_repeats_its_phrase_and_a_control_does_not(seed):
  m = _melodies()
  x, about = cv.melody(np.random.default_rng(seed), "repeating", m)
  y, control = cv.melody(np.random.default_rng(seed), "control", m)
  assert x.shape == y.shape == (6000,)
  notes, note = about["phrase_notes"], about["note_samples"]
  period = about["phrase_samples"]
  assert notes in (2, 3, 4) and period == notes * note
  assert 1000 - notes <= period <= 2000 + notes  # 1-2 s, in whole notes
  # Every sample equals the one a phrase earlier; the notes come at a
  # steady tempo and within one phrase no level comes twice.
  np.testing.assert_array_equal(x[period:], x[:-period])
  onsets = _onsets(x)
  assert np.all(np.diff(onsets) == note)
  assert len(set(x[onsets[:notes]].tolist())) == notes
  # The control (same draws) has notes of random lengths of the corpus's
  # mean, and the phrase does not recur.
  assert control == dict(about, note_samples=500)
  assert not np.array_equal(y[period:], y[:-period])
  assert len(set(np.diff(_onsets(y)).tolist())) > 1
  # Both hold exact code values and change level at every onset.
  levels = set(cv.level_values(m).tolist())
  assert set(x.tolist()) <= levels and set(y.tolist()) <= levels


def test_control_notes_are_memoryless():
  rng = np.random.default_rng(0)
  lengths = np.concatenate([cv.note_lengths(rng, "control", 50, 5000)
                            for _ in range(200)])
  # Geometric with mean 50: the mean within 3 standard errors (a geometric
  # of mean 50 has sd 49.5), and memoryless: of the notes that outlived 50
  # samples, as many outlive 50 more as outlive 50 among all (0.366 and
  # 0.366 measured, over 43,600 notes; the standard error of the
  # difference is about 0.004, the tolerance 5 of them. Notes of fixed or
  # uniform length give 0 or 1 against 0.5).
  assert abs(lengths.mean() - 50) < 3 * 49.5 / np.sqrt(lengths.size)
  survive = lambda n: np.mean(lengths > n)
  assert survive(100) / survive(50) == pytest.approx(survive(50), abs=0.02)


def test_control_notes_have_one_mean_length_whatever_the_drawn_tempo():
  # A per-file tempo would tell the rhythm from notes older than the
  # current one. Files whose drawn note (phrase / notes) is short and
  # files whose drawn note is long have the same mean note length, 500
  # samples (a geometric of mean 500 has sd 500; the tolerance is 4
  # standard errors of each group's mean. A per-file tempo gives ~350 and
  # ~650: drawn notes span 250-1000 samples).
  m = _melodies(file_seconds=30.0)
  drawn, gaps = [], []
  for seed in range(40):
    y, about = cv.melody(np.random.default_rng(seed), "control", m)
    drawn.append(about["phrase_samples"] / about["phrase_notes"])
    gaps.append(np.diff(_onsets(y)))
  short = np.concatenate([g for d, g in zip(drawn, gaps)
                          if d < np.median(drawn)])
  long = np.concatenate([g for d, g in zip(drawn, gaps)
                         if d >= np.median(drawn)])
  for group in (short, long):
    assert abs(group.mean() - 500) < 4 * 500 / np.sqrt(group.size)


def _curve(rows):
  return [dict(context_seconds=c, context_samples=n, nll_bits=v, low=lo,
               high=hi, samples=100) for c, n, v, lo, hi in rows]


def test_the_verdicts_compare_intervals_and_demand_exact_flatness():
  s = cv.Settings(contexts=(0.016, 0.25, 4.0, None))
  gaining = _curve([(0.016, 16, 1.0, 0.9, 1.1), (0.25, 250, 0.8, 0.75, 0.85),
                    (4.0, 4000, 0.7, 0.65, 0.74), (None, 9000, 0.7, 0.65,
                                                   0.74)])
  overlapping = _curve([(0.016, 16, 1.0, 0.9, 1.1),
                        (0.25, 250, 0.8, 0.75, 0.85),
                        (4.0, 4000, 0.79, 0.74, 0.84),
                        (None, 9000, 0.79, 0.74, 0.84)])
  flat = _curve([(0.016, 16, 1.0, 0.9, 1.1), (0.25, 31, 0.5, 0.4, 0.6),
                 (4.0, 31, 0.5, 0.4, 0.6), (None, 31, 0.5, 0.4, 0.6)])
  curves = {"samplernn/repeating": dict(context=gaining),
            "samplernn/control": dict(context=overlapping),
            "wavenet/repeating": dict(context=flat, receptive_field=31),
            "wavenet/control": dict(context=flat, receptive_field=31)}
  v = cv.verdicts(curves, s)
  assert v["samplernn_repeating"]["beyond_intervals"]
  assert v["samplernn_repeating"]["gain_bits"] == pytest.approx(0.1)
  assert not v["samplernn_control"]["beyond_intervals"]
  assert v["wavenet_repeating"]["flat"]
  assert v["wavenet_repeating"]["contexts"] == [0.25, 4.0, None]
  assert v["passed"]
  # A gain on the control, or a WaveNet not flat past its field, fails.
  assert not cv.verdicts({**curves, "samplernn/control": dict(
      context=gaining)}, s)["passed"]
  wobbly = _curve([(0.016, 16, 1.0, 0.9, 1.1), (0.25, 31, 0.5, 0.4, 0.6),
                   (4.0, 31, 0.5 + 1e-9, 0.4, 0.6), (None, 31, 0.5, 0.4,
                                                     0.6)])
  v = cv.verdicts({**curves, "wavenet/control": dict(
      context=wobbly, receptive_field=31)}, s)
  assert not v["wavenet_control"]["flat"] and not v["passed"]


TINY = cv.Settings(
    melodies=cv.Melodies(file_seconds=3.0, num_files=8),
    test_fraction=0.3,
    # One window per crop: a second one would trace the training step again.
    samplernn=dict(frame_sizes=[16, 128], dim=8, emb_size=4, batch_size=2,
                   seq_len=256, num_windows=1, num_steps=2),
    wavenet=dict(batch_size=2, seq_len=256, num_steps=2),
    contexts=(0.25, 1.0, None), short_context=0.25, long_context=1.0)


@pytest.fixture(scope="module")
def validated(tmp_path_factory):
  out = str(tmp_path_factory.mktemp("context_validation"))
  lines = []
  result = cv.validate(out, TINY, log=lines.append)
  return out, result, lines


def test_the_benchmark_runs_end_to_end_and_writes_its_result(validated):
  out, result, lines = validated
  with open(os.path.join(out, cv.RESULT_NAME)) as f:
    written = json.load(f)
  assert written["verdicts"] == json.loads(json.dumps(result["verdicts"]))
  assert set(written["models"]) == {f"{name}/{kind}" for name, _, _ in
                                    cv.MODELS for kind in cv.KINDS}
  for key, model in written["models"].items():
    assert model["training"]["step"] == 2
    curve = model["likelihood"]["context"]
    assert [r["context_seconds"] for r in curve] == [0.25, 1.0, None]
    # Every context scores the same samples: the whole test files after W.
    assert {r["samples"] for r in curve} == {model["likelihood"]["samples"]}
    assert all(np.isfinite([r["nll_bits"], r["low"], r["high"]]).all()
               for r in curve)
  for kind in cv.KINDS:
    corpus = written["corpora"][kind]
    assert corpus["files"] >= 1
    assert 1.0 <= corpus["phrase_seconds"][0] <= corpus["phrase_seconds"][1]
    assert corpus["phrase_seconds"][1] <= 2.0
    # The WaveNet's curve is flat beyond its receptive field whatever it
    # learned: its input is cut there.
    assert written["verdicts"][f"wavenet_{kind}"]["flat"]
  for key in ("samplernn_repeating", "samplernn_control"):
    assert isinstance(written["verdicts"][key]["beyond_intervals"], bool)
  assert isinstance(written["verdicts"]["passed"], bool)
  text = cv.table(written)
  assert text.count("\n") == len(TINY.contexts)
  assert cv.verdict_lines(written)[-1] in ("PASSED", "FAILED")
  assert any("test split" in line for line in lines)


def test_an_output_dir_that_is_not_empty_is_refused(validated):
  out, _, _ = validated
  with pytest.raises(cv.ValidationError, match="not empty"):
    cv.validate(out, TINY)
