r"""Train a WaveNet (autoencoder or unconditional): `python -m wavenet.train`.

    python -m wavenet.train --data_dir=data/notes --model_dir=runs/wavenet \
        --config=small [--num_steps=... --batch_size=...]

The same flags, checkpoints, resume, validation, TensorBoard, NaN guard and
`--strategy` as `samplernn.train`, through the same `common.trainer`.
TensorBoard's audio are reconstructions of training crops (autoencoder) or
short unconditional generations (`conditioning: none`), made by the
family's generator.
"""

from common import train_cli


def run() -> None:
  train_cli.run("wavenet", "small", __doc__)


if __name__ == "__main__":
  run()
