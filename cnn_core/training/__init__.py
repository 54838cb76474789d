"""Training a CNN, from settings to a saved model.

- What to train: `config` (every hyperparameter), `model` (Keras layers, optimizer, tf.data input),
  `schedules` (learning-rate formulas).
- A run: `launch` starts one in a background process, `job` is its body (the story of a run),
  `resume` continues an earlier one, `runs` records it on disk for any page to read.
- Inside a run: `pacing` (speed probes and time budgets), `live_metrics` (the Keras callback that
  streams progress), `devices` (CPU or GPUs), `precision` (float32, or 16-bit arithmetic where the hardware
  makes it pay), `evaluation` (scoring the test split).
- For the training pages: `figures` (charts from a run's events) and `view` (form values and lessons).

Only `model`, `job`, `devices`, `precision`, `evaluation`, `live_metrics` and `pacing` import TensorFlow.
"""
