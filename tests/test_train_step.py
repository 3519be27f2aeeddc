"""The training step under several replicas: clipping and the finite guard
act on the gradient of the whole batch (`common.train_step`)."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# In a fresh process (logical devices are fixed when TensorFlow starts):
# the same 4 windows of a batch of 4 through the step of one replica and of
# a MirroredStrategy over two logical CPUs (rows 0-1 on replica 0, rows 2-3
# on replica 1), from the same initial weights; then, from fresh weights, a
# step whose loss is NaN on replica 1 only. Prints the results as JSON.
SCRIPT = textwrap.dedent("""
    import json, sys
    sys.path[:0] = [{root!r}, {tests!r}]
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from common import model_api, train_step
    import test_trainer, toy_model

    NAN_CODE = 255  # a window starting with it makes the model's logits NaN

    class NanOnCode(toy_model.ToyRNN):
      def call(self, codes, state=(), training=False):
        logits, state = super().call(codes, state, training)
        bad = tf.reduce_any(codes[:, 0] == NAN_CODE)
        return tf.where(bad, np.nan, logits), state

    config = test_trainer.toy_config(batch_size=4, learning_rate=0.01,
                                     grad_clip_norm={clip})
    windows = [tf.random.stateless_uniform([4, 17], [7, k], 0, NAN_CODE,
                                           tf.int32) for k in range(4)]

    def run(strategy, windows):
      tf.keras.utils.set_random_seed(0)
      with strategy.scope():
        model = model_api.build(NanOnCode(config))
        optimizer = train_step.make_optimizer(config, model)
      step = train_step.make_train_step(model, optimizer, config, strategy)
      rows = 4 // strategy.num_replicas_in_sync
      start = [v.numpy() for v in model.trainable_variables]
      out = dict(norms=[], losses=[], finite=[])
      for k, window in enumerate(windows):
        part = lambda ctx, w=window: w[ctx.replica_id_in_sync_group * rows:
                                       (ctx.replica_id_in_sync_group + 1)
                                       * rows]
        loss, norm, finite, _ = step(
            strategy.experimental_distribute_values_from_function(part), (),
            train_step.step_key(0, k))
        out["norms"].append(float(norm))
        out["losses"].append(float(loss))
        out["finite"].append(float(finite))
      weights = [v.numpy() for v in model.trainable_variables]
      out["change"] = max(float(np.max(np.abs(a - b)))
                          for a, b in zip(weights, start))
      return out, weights

    mirrored = tf.distribute.MirroredStrategy(["CPU:0", "CPU:1"])
    one, w_one = run(tf.distribute.get_strategy(), windows)
    two, w_two = run(mirrored, windows)
    nan_window = tf.concat([windows[0][:2], tf.fill([2, 17], NAN_CODE)], 0)
    nan, _ = run(mirrored, [nan_window])
    print(json.dumps(dict(
        one=one, two=two, nan=nan,
        weight_diff=max(float(np.max(np.abs(a - b)))
                        for a, b in zip(w_one, w_two)))))
""")


def run_replicas(clip):
  script = SCRIPT.format(root=ROOT, tests=os.path.join(ROOT, "tests"),
                         clip=clip)
  out = subprocess.run([sys.executable, "-c", script], capture_output=True,
                       text=True, timeout=300)
  assert out.returncode == 0, out.stderr[-3000:]
  return json.loads(out.stdout.strip().splitlines()[-1])


def test_two_replicas_clip_and_guard_the_whole_batchs_gradient():
  """With clipping binding (the batch gradient's norm is about 0.13, the
  clip 0.05), two replicas take the steps one replica takes on the same
  batch, and log the same gradient norm (that of the whole batch, before
  clipping); a NaN on one replica changes no weight on either."""
  result = run_replicas(clip=0.05)
  one, two = result["one"], result["two"]
  assert min(one["norms"]) > 0.05  # the clip binds at every step
  np.testing.assert_allclose(two["norms"], one["norms"], rtol=1e-6)
  np.testing.assert_allclose(two["losses"], one["losses"], rtol=1e-6)
  assert one["finite"] == two["finite"] == [1.0] * 4
  # The runs differ only in how the batch's sums are split (two halves
  # added vs one sum): measured 8.2e-8 after 4 steps (weights moved by up
  # to 0.04). Clipping each replica's half (the old bug) differs by 4.0e-3,
  # an optimizer that sums the summed gradients again by 6.7e-3.
  assert result["weight_diff"] < 1e-6
  assert one["change"] > 1e-2
  nan = result["nan"]
  assert nan["finite"] == [0.0] and np.isnan(nan["losses"][0])
  assert nan["change"] == 0.0
