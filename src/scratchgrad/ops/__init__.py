"""Primitive operations, by family; each Function's forward and backward sit side by side."""
