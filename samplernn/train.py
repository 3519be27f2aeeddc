r"""Train a SampleRNN: `python -m samplernn.train`.

    python -m samplernn.train --data_dir=data/mine --model_dir=runs/srnn \
        --config=small [--num_steps=100000 --batch_size=16 ...]

Re-running the same command resumes from the last checkpoint in
`--model_dir`. All the work is in `common.trainer`; this module only supplies
the model and its audio summaries (short unconditional generations).
"""

from common import quantization
from common import train_cli
from samplernn import generate
from samplernn import model as model_lib


def audio_summary(model, config, codes, step):
  """Two short unconditional generations, float32 `[2, samples]`."""
  del codes
  num_samples = int(config["audio_summary_seconds"] * config["sample_rate"])
  generated = generate.generate(model, config, num_seqs=2,
                                num_samples=max(num_samples, 1), seed=step)
  return quantization.decode(generated, config["quantization"],
                             config["q_levels"])


def main(argv):
  del argv
  return train_cli.main("samplernn", model_lib.build_model, audio_summary)


def run():
  train_cli.run("samplernn", "small", main, __doc__)


if __name__ == "__main__":
  run()
