"""Entry point of a case process: `python -m harness.case_main FD`.

Kept free of imports at module level on purpose. Pool processes started with spawn or
forkserver import the parent's main module again; were that `harness.case_process`, every
worker would carry pydantic, psutil and the registry, and the harness would measure its
own imports as the cost of a process.
"""

if __name__ == "__main__":
    import sys

    from harness.case_process import main

    sys.exit(main(sys.argv))
