"""Compiled training phases, one file per family; ``base.py`` holds what they share."""
