"""Hosting CNN Studio for a class: settings, owners, the persistent training queue, its dispatcher, and Ray."""
