"""easy_rec.training"""
