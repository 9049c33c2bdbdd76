"""easy_rec.config"""
