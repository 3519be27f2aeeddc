r"""Stream an unconditional WaveNet live, endlessly: `python -m wavenet.stream`.

    python -m wavenet.stream --model_dir=pretrained/wavenet_bach
    python -m wavenet.stream --model_dir=DIR --to=stdout | aplay

Generates block by block in real time (refused, with its measured
real-time factor, if the model is too slow: give `--buffer_seconds` to play
from a buffer instead) and plays to a web page, a pipe or the sound card.
An autoencoder is refused: it decodes embeddings of audio and makes nothing
on its own. All the work is in `common.live`.
"""

from common.live import command


def run() -> None:
  command.run("wavenet", __doc__)


if __name__ == "__main__":
  run()
