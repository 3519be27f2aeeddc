"""neuralsynth's shared data layer and machinery (see README.md)."""

import os

# Keep TensorFlow's C++ start-up chatter (CUDA probing, CPU features) off the
# console of every script; set TF_CPP_MIN_LOG_LEVEL yourself to see it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
