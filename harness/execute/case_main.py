"""Entry point of a case process: `python -m harness.execute.case_main FD`.

Kept free of imports at module level on purpose. Pool processes started with spawn or
forkserver import the parent's main module again; were that `harness.execute.case_process`, every
worker would carry pydantic, psutil and the registry, and the harness would measure its
own imports as the cost of a process.
"""

if __name__ == "__main__":
    import gc
    import sys

    from harness.execute.case_process import main

    code = main(sys.argv)
    # The case is over and its backend stopped. The interpreter's exit still runs threads'
    # joins, atexit handlers and finalizers as ever, but its garbage collections walk every
    # object pydantic and the engine made: ~40 ms of each case's wall. Frozen, they skip.
    gc.freeze()
    sys.exit(code)
