"""Published test NLLs, as data: context rows for the report's Likelihood
section, never ranked against the models of a report.

Sources:

* Mehri, Kumar, Gulrajani, Kumar, Jain, Sotelo, Courville, Bengio (2017),
  "SampleRNN: An Unconditional End-to-End Neural Audio Generation Model",
  ICLR 2017, arXiv:1612.07837: test NLL on their Music set (Beethoven's 32
  piano sonatas), 16 kHz, 8-bit linear quantisation.
* Goel, Gu, Donahue, Re (2022), "It's Raw! Audio Generation with State-Space
  Models" (SaShiMi), ICML 2022, arXiv:2202.09729: test NLL on YouTubeMix
  (about 4 h of solo piano), 16 kHz, 8-bit mu-law.

Other data and other quantisers than a report's models: these numbers give
scale, they are not comparable head-to-head (`CAVEAT`). `eval.compare` puts
`rows()` into results["anchors"]; `eval.score` (folders of audio) does not.
"""

from __future__ import annotations

from typing import Any, NamedTuple

# Shown once beside the anchor rows, in the page and in report.md.
CAVEAT = ("Published figures on other data with other quantisers: they give "
          "scale and are not comparable head-to-head with the models of this "
          "report.")


class Anchor(NamedTuple):
  """One published test NLL."""
  source: str    # citation, e.g. "Mehri et al. 2017 (SampleRNN)"
  dataset: str   # the test set, with its sample rate
  quantization: str  # e.g. "8-bit linear"
  model: str     # the model the figure is of
  nll_bits_per_sample: float  # test NLL, bits per (8-bit) sample
  note: str      # anything that qualifies the figure


_SAMPLERNN = "Mehri et al. 2017 (SampleRNN, arXiv:1612.07837)"
_MUSIC = "Music (Beethoven piano sonatas), 16 kHz"
_SASHIMI = "Goel et al. 2022 (SaShiMi, arXiv:2202.09729)"
_YOUTUBEMIX = "YouTubeMix (solo piano), 16 kHz"

ANCHORS: tuple[Anchor, ...] = (
    Anchor(_SAMPLERNN, _MUSIC, "8-bit linear", "SampleRNN 2-tier", 1.076, ""),
    Anchor(_SAMPLERNN, _MUSIC, "8-bit linear", "SampleRNN 3-tier", 1.159, ""),
    Anchor(_SAMPLERNN, _MUSIC, "8-bit linear", "WaveNet", 1.464,
           "the SampleRNN paper's re-implementation"),
    Anchor(_SASHIMI, _YOUTUBEMIX, "8-bit mu-law", "SampleRNN", 1.723,
           "a baseline of the SaShiMi paper"),
    Anchor(_SASHIMI, _YOUTUBEMIX, "8-bit mu-law", "WaveNet", 1.449,
           "a baseline of the SaShiMi paper"),
    Anchor(_SASHIMI, _YOUTUBEMIX, "8-bit mu-law", "SaShiMi", 1.294, ""),
)


def rows() -> list[dict[str, Any]]:
  """ANCHORS as results["anchors"]: [{"source", "dataset", "quantization",
  "model", "nll_bits_per_sample", "note"}]."""
  return [anchor._asdict() for anchor in ANCHORS]
