"""easy_rec.tables: tables on disk, shared by training input and batch prediction."""
