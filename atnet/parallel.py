"""Folds in parallel (``tools/train.py --jobs``): how many fold processes share the machine and
with how many BLAS threads each, chosen from its cores and memory (``--jobs auto``, the default)
or given by the user; atnet.train starts the folds, this module only decides."""
import os

#: tools/train.py's default --jobs: folds in parallel and threads per fold chosen by auto_parallelism.
JOBS_AUTO = "auto"
#: Peak RSS (MiB) of one fold's process (training, then predicting) at batch FOLD_PEAK_BATCH, one BLAS
#: thread, measured with tools/train.py on the synthetic LMDBs of tests/train_support.py: 1505, 1069,
#: 602 and 1589 MiB (docs/cpu_speed.md, "Folds in parallel"). Activations grow with the batch (fusion:
#: 2495 MiB at batch 32), so the estimate scales with it, generously.
FOLD_PEAK_MIB = {"fusion": 1500, "spatial": 1100, "temporal": 600, "micro_attention": 1600}
FOLD_PEAK_BATCH = 16
#: Memory left to everything else (the parent, the LMDBs' page cache) when folds are counted.
MEMORY_RESERVE_MIB = 1024


def auto_parallelism(cores, available_mib, folds, fold_mib, threads=None):
    """(folds in parallel, BLAS threads per fold) for ``--jobs auto``: one single-threaded fold
    per core, at most one per fold to train and per ``fold_mib`` of ``available_mib``; cores
    left over (fewer folds than cores) become threads of the folds. ``threads`` (the user's
    OPENBLAS_NUM_THREADS) is kept and only the number of folds chosen.

    Why folds before threads: BVLC Caffe runs everything but GEMM on one thread, so a second
    thread speeds one fold up far less than a second fold adds. On a 2-core machine, fusion,
    batch 16 (docs/cpu_speed.md): idle, 1.58 s per iteration on one thread and 1.22 s on two
    (1 x 2: 13 images/s; 2 x 1: up to 20); loaded (bench/bench_vs_pytorch.py), 2 folds x 1
    thread 1.1 images/s against 0.3 for 1 fold x 2 threads.
    """
    fixed = threads is not None
    threads = threads if fixed else 1
    by_memory = int(available_mib // fold_mib) if available_mib is not None and fold_mib > 0 else folds
    jobs = max(1, min(folds, cores // threads, by_memory))
    return jobs, threads if fixed else max(1, cores // jobs)


def parallel_settings(jobs, model, batch_size, folds, gpu):
    """(jobs, BLAS threads per fold or None for the libraries' default, run.json's "parallel"
    record) for ``--jobs`` (JOBS_AUTO or a number) and ``folds`` folds to train."""
    cores, user_threads = machine_cores(), user_blas_threads()
    record = dict(requested=jobs, cores=cores)
    if jobs == JOBS_AUTO and gpu is not None:
        jobs, threads = 1, user_threads   # one device: the folds would queue on it
    elif jobs == JOBS_AUTO:
        fold_mib = FOLD_PEAK_MIB.get(model, max(FOLD_PEAK_MIB.values())) * max(1.0, batch_size / FOLD_PEAK_BATCH)
        available = available_memory_mib()
        budget = None if available is None else max(0, available - MEMORY_RESERVE_MIB)
        jobs, threads = auto_parallelism(cores, budget, max(1, folds), fold_mib, user_threads)
        record.update(available_mib=available, fold_mib_estimate=round(fold_mib))
    else:
        threads = user_threads or (max(1, cores // jobs) if jobs > 1 else None)
    record.update(jobs=jobs, threads_per_fold=threads,
                  threads_from="OPENBLAS_NUM_THREADS/OMP_NUM_THREADS (set by the user)" if user_threads else
                  "the libraries' default (all cores)" if threads is None else "--jobs")
    return jobs, threads, record


def parallel_line(parallel, folds):
    """run.log's line on how the folds share the machine."""
    threads = parallel["threads_per_fold"]
    return "%d fold(s) to train, %d at a time, %s BLAS thread(s) each (--jobs %s; %d cores%s)" % (
        folds, parallel["jobs"], threads if threads else "default", parallel["requested"], parallel["cores"],
        ", %s MiB available, about %s MiB per fold" % (parallel["available_mib"], parallel["fold_mib_estimate"])
        if "fold_mib_estimate" in parallel else "")


def machine_cores():
    """The cores this process may use (a container's or SLURM task's cpuset, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def user_blas_threads():
    """Threads per process the user fixed with OPENBLAS_NUM_THREADS (or OMP_NUM_THREADS), else None."""
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(name, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    return None


def available_memory_mib():
    """MemAvailable of /proc/meminfo in MiB (None where there is none), capped by a cgroup v2 limit."""
    try:
        with open("/proc/meminfo") as handle:
            fields = dict(line.split(":", 1) for line in handle if ":" in line)
        available = int(fields["MemAvailable"].split()[0]) // 1024
    except (OSError, KeyError, ValueError):
        return None
    try:
        with open("/sys/fs/cgroup/memory.max") as limit, open("/sys/fs/cgroup/memory.current") as used:
            text = limit.read().strip()
            if text != "max":
                available = min(available, (int(text) - int(used.read())) // 2 ** 20)
    except (OSError, ValueError):
        pass
    return available
