"""A GRU for masked sequences that is fast on the CPU under the torch backend."""
from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="srs_lib")
class MaskedGRU(keras.layers.Layer):
    """``keras.layers.GRU`` (reset_after=True, same weights and gates), written as a loop of
    ``keras.ops`` for speed on the CPU.

    Keras's torch GRU projects the inputs of all steps in one matmul but reads each step
    with ``x[t]``, whose backward pass writes a zero tensor of the whole projection per
    step (quadratic in the sequence length), and with a mask it falls back to a slower
    generic loop. Here the projected inputs are unstacked once, and a masked step keeps the
    previous state (as ``keras.layers.GRU`` does).

    Args:
        units: state width.

    Call arguments:
        inputs: `(batch, steps, dim)`. step_mask: `(batch, steps)` bool or None (not named
            ``mask``, so that Keras's implicit mask propagation stays out of the way).
        return_sequences: also return every step's state.

    Returns:
        The final state `(batch, units)`, or the states `(batch, steps, units)` (the
        previous state repeated at masked steps).
    """

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.supports_masking = True  # the mask comes as step_mask; see compute_mask
        self.cell = keras.layers.GRUCell(units, name="cell")

    def build(self, input_shape):
        self.cell.build((None, input_shape[-1]))

    def call(self, inputs, step_mask=None, return_sequences=False):
        cell = self.cell
        x = ops.matmul(inputs, cell.kernel) + cell.bias[0]  # (batch, steps, 3·units)
        steps = ops.unstack(x, axis=1)
        masks = ([None] * len(steps) if step_mask is None
                 else ops.unstack(step_mask[..., None], axis=1))
        h = ops.zeros((ops.shape(inputs)[0], self.units), dtype=x.dtype)
        states = []
        for x_t, m_t in zip(steps, masks):
            x_z, x_r, x_h = ops.split(x_t, 3, axis=-1)
            h_z, h_r, h_h = ops.split(ops.matmul(h, cell.recurrent_kernel) + cell.bias[1], 3,
                                      axis=-1)
            z = ops.sigmoid(x_z + h_z)
            candidate = ops.tanh(x_h + ops.sigmoid(x_r + h_r) * h_h)
            new = z * h + (1.0 - z) * candidate
            h = new if m_t is None else ops.where(m_t, new, h)
            if return_sequences:
                states.append(h)
        return ops.stack(states, axis=1) if return_sequences else h

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units})
        return config
