"""easy_rec.input"""
