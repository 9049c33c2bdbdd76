"""Training on a cluster with tf.distribute: roles from TF_CONFIG, strategies, the PS and MWMS
loops; the local launcher (`python -m easy_rec.distribute.launch`) and its process supervisor.

Nothing here imports TensorFlow at package import (the launcher's --help must stay light)."""
