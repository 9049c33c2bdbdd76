"""easy_rec.features"""
