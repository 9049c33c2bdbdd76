"""RocketLaunching's feature distillation terms, by hand."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from easy_rec.models.rocket_launching import cosine_agreement, euclidean_gap


def test_euclidean_gap_is_the_batch_norm_and_teaches_only_the_student():
    student = tf.Variable([[1.0, 2.0], [0.0, 0.0]])
    teacher = tf.Variable([[1.0, 0.0], [3.0, 4.0]])
    with tf.GradientTape() as tape:
        gap = euclidean_gap(student, teacher)
    # differences (0, 2) and (-3, -4): sqrt(4 + 9 + 16)
    assert float(gap) == pytest.approx(29 ** 0.5)
    grad_student, grad_teacher = tape.gradient(gap, [student, teacher])
    np.testing.assert_allclose(grad_student.numpy(), np.array([[0, 2], [-3, -4]]) / 29 ** 0.5,
                               rtol=1e-6)
    assert grad_teacher is None
    # the cosine term: rows (1, 2)·(1, 0) / sqrt(5) and (0, 0) (no direction) -> mean 0.2236
    assert float(cosine_agreement(student, teacher)) == pytest.approx(0.5 / 5 ** 0.5, rel=1e-5)
