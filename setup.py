"""neuralsynth: SampleRNN and an NSynth WaveNet autoencoder in TensorFlow 2.

All metadata lives in setup.cfg; this file only lets `pip install -e .` work
with older pips.
"""
import setuptools

setuptools.setup()
