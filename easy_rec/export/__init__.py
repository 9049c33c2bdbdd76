"""easy_rec.export"""
