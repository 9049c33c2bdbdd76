"""easy_rec.serving: offline use of exported SavedModels (batch prediction over tables)."""
