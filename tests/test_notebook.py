"""docs/tutorial.ipynb runs top to bottom, headless, with its tiny settings.

The notebook is executed by nbclient in an ipykernel of this venv's Python
(the `python3` kernel: jupyter_client runs it with `sys.executable`), with
`NEURALSYNTH_TUTORIAL=tiny` and its files in tmp_path, so it cannot rot: a
library change that breaks a cell fails here. About 80 s of CPU time
(kernel included; 150 s wall on the 2-core machine shared with other jobs,
load average 7).
"""

import os

import nbformat
import soundfile as sf
from nbclient import NotebookClient

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOK = os.path.join(ROOT, "docs", "tutorial.ipynb")
CELL_TIMEOUT = 600  # seconds, per cell


def _outputs(nb, output_type=None, mime=None):
  found = []
  for cell in nb.cells:
    for output in cell.get("outputs", []):
      if output_type and output["output_type"] != output_type:
        continue
      if mime and mime not in output.get("data", {}):
        continue
      found.append(output)
  return found


def _stdout(nb):
  return "".join(o.get("text", "") for o in _outputs(nb, "stream")
                 if o.get("name") == "stdout")


def test_notebook_is_committed_without_outputs():
  nb = nbformat.read(NOTEBOOK, as_version=4)
  nbformat.validate(nb)
  code = [c for c in nb.cells if c.cell_type == "code"]
  assert code
  for cell in code:
    assert not cell.outputs and cell.execution_count is None, cell.source[:80]


def test_notebook_runs_top_to_bottom_with_tiny_settings(tmp_path):
  nb = nbformat.read(NOTEBOOK, as_version=4)
  env = dict(os.environ, NEURALSYNTH_TUTORIAL="tiny",
             NEURALSYNTH_TUTORIAL_DIR=str(tmp_path))
  # The checkout's packages, as for the other tests (conftest.py).
  env["PYTHONPATH"] = os.pathsep.join(
      p for p in (ROOT, os.environ.get("PYTHONPATH")) if p)
  client = NotebookClient(
      nb, timeout=CELL_TIMEOUT, kernel_name="python3",
      resources={"metadata": {"path": str(tmp_path)}})
  client.execute(env=env)  # raises CellExecutionError naming the cell

  (work,) = [p for p in tmp_path.iterdir()
             if p.name.startswith("neuralsynth-tutorial-")]
  text = _stdout(nb)
  assert f"working in {work}" in text
  assert "samplernn_bach" in text and "train:" in text
  assert "step 20: training loss" in text
  assert "shipped" in text and "mine" in text  # the comparison's table
  # The export, reloaded by TensorFlow alone, makes the library's audio.
  assert "the same audio as step 3: True" in text

  generated, rate = sf.read(str(work / "generated" / "mine_0.wav"))
  assert rate == 16000 and generated.shape == (4000,)  # 0.25 s
  resynthesized, _ = sf.read(str(work / "resynthesized" / "flute.wav"))
  # 0.1 s, decoded in whole frames of 512 samples
  assert resynthesized.shape == (2048,)
  assert (work / "report" / "index.html").is_file()
  assert (work / "export" / "saved_model" / "saved_model.pb").is_file()
  # Audio played inline: the chorale, the generation, the note before and
  # after, the shipped model's generation, the export's generation.
  audio = [o for o in _outputs(nb, mime="text/html")
           if "<audio" in o["data"]["text/html"]]
  assert len(audio) == 6
  # The report's plots, shown inline.
  plots = sorted(os.listdir(work / "report" / "plots"))
  assert "context.png" in plots and "speed.png" in plots
  shown = _outputs(nb, "display_data", "image/png")
  assert len(shown) == len([p for p in plots if p.endswith(".png")])
