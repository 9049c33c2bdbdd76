"""easy_rec: config-driven recommendation models on TensorFlow 2."""
__version__ = "0.1.0"
