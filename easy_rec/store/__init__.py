"""The online store: feature tables and embedding tables in Redis, shared by export, training and serving."""
