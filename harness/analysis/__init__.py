"""Reading what ran: frames in, frames out.

`summaries` (the cases table: medians, intervals, speedups over the baseline backend),
`compare` (two runs case by case), `claims` (the article's claims), `advice` (a
recommendation per scenario). Nothing here runs a case or draws anything.
"""
