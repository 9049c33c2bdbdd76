"""Training on a cluster with tf.distribute: roles from TF_CONFIG, strategies, the PS and MWMS loops."""
