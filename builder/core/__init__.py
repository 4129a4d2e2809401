"""Shared ground: the error hierarchy, sizes in words, atomic files and JSON caches, the one
subprocess helper, where builder keeps things in a backend, and Lambda's fixed limits.
"""
