"""Saved models: the registry on disk with atomic writes (`registry`), and moving a model between CNN
Studios as settings + weights, never by deserialising someone's model file (`transfer`).
"""
