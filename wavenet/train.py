r"""Train a WaveNet (autoencoder or unconditional): `python -m wavenet.train`.

    python -m wavenet.train --data_dir=data/notes --model_dir=runs/wavenet \
        --config=small [--num_steps=... --batch_size=...]

The same flags, checkpoints, resume, validation, TensorBoard, NaN guard and
`--strategy` as `samplernn.train`, through the same `common.trainer`. Audio
summaries are reconstructions of training crops (autoencoder) or short
unconditional generations (`conditioning: none`).
"""

import tensorflow as tf

from common import quantization
from common import train_cli
from wavenet import fastgen
from wavenet import model as model_lib


def audio_summary(model, config, codes, step):
  """Reconstructions of `codes` (or generations), float32 `[n, samples]`."""
  hop = int(config["hop_length"])
  num_samples = int(config["audio_summary_seconds"] * config["sample_rate"])
  num_samples = max(hop, min(num_samples, codes.shape[1]) // hop * hop)
  codes = tf.convert_to_tensor(codes)[:, :num_samples]
  if config.get("conditioning", "encoder") == "none":
    out = fastgen.generate(model, num_samples, batch_size=codes.shape[0],
                           seed=step)
  else:
    out = fastgen.generate(model, num_samples,
                           embeddings=model.encode(codes), seed=step)
  return quantization.decode(out, config["quantization"], config["q_levels"])


def main(argv):
  del argv
  return train_cli.main("wavenet", model_lib.build_model, audio_summary)


def run():
  train_cli.run("wavenet", "small", main, __doc__)


if __name__ == "__main__":
  run()
