"""easy_rec.metrics"""
