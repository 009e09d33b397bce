"""Running cases: a run's folder and rounds (`runner`), one case in a fresh process under
its timeout (`case_runner`), what happens inside it (`case_process`, entry `case_main`),
clusters by address and local ones (`clusters`), other interpreters (`interpreters`), the
time left (`eta`). Nothing here reads results back or draws anything.
"""
