"""Data: folder scanning, validation, image loading and batching, embedded demo data."""
