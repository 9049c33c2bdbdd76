"""Multi-process training: the TF_CONFIG cluster layout and the local launcher
(`python -m easy_rec.distribute.launch`)."""
