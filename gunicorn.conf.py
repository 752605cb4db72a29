"""gunicorn reads this file from the directory it is started in (the production command in docs/production.md):
settings given on the command line still win. It only adds what a flag cannot say."""
import gc


def post_worker_init(worker) -> None:
    # The app is loaded: its modules, mappers and templates live as long as the worker. Frozen, they are left out
    # of the garbage collector's full collections, which otherwise walked all of them (0.1-0.2 s, on one request
    # every few dozen sync batches; bench/bench_sync_cost.py with BENCH_GC_FREEZE=1 shows the difference).
    gc.freeze()
