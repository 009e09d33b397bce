"""Presentation: terminal, markdown and JSON renderers and one units module. Frames in, text out."""
