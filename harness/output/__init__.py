"""Everything shown or written: one registry of formats (`formats`), the terminal and
markdown tables, JSON and CSV records, compare's table, the progress bar, plain-file
exports (`export`) and the report (`reports`). Frames in, text and files out.
"""
