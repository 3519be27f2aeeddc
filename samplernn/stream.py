r"""Stream a SampleRNN live, endlessly: `python -m samplernn.stream`.

    python -m samplernn.stream --model_dir=pretrained/samplernn_bach
        # then open http://127.0.0.1:8000/
    python -m samplernn.stream --model_dir=DIR --to=stdout | aplay
    python -m samplernn.stream --model_dir=DIR --to=stdout --no_pace \
        --seconds=60 > minute.wav

Generates block by block in real time (refused, with its measured
real-time factor, if the model is too slow) and plays to a web page, a pipe
or the sound card; `--record=live.flac` keeps what was played. All the work
is in `common.live`.
"""

from common.live import command


def run() -> None:
  command.run("samplernn", __doc__)


if __name__ == "__main__":
  run()
