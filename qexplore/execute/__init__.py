"""Where a variant's work runs: in this process (:mod:`measure`) or as a task on a Ray cluster
(:mod:`cluster`). Either way the work only *emits* events; the sweep, the one writer, records
them in the store as they arrive."""
