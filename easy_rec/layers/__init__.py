"""easy_rec.layers"""
