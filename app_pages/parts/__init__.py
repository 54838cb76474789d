"""Parts every page shares: guard (no traceback reaches a visitor), identity (who is visiting), language, exercises
(predict, then reveal), preload (what the server loads before its first visitor)."""
