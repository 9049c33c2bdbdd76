"""Export of trained models as SavedModels for TensorFlow Serving (`python -m easy_rec.export`)."""
