"""easy_rec.tools"""
