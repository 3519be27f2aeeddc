r"""Train a SampleRNN: `python -m samplernn.train`.

    python -m samplernn.train --data_dir=data/mine --model_dir=runs/srnn \
        --config=small [--num_steps=100000 --batch_size=16 ...]

Re-running the same command resumes from the last checkpoint in
`--model_dir`. All the work is in `common.trainer`; TensorBoard's audio are
short unconditional generations (the family's generator).
"""

from common import train_cli


def run() -> None:
  train_cli.run("samplernn", "small", __doc__)


if __name__ == "__main__":
  run()
