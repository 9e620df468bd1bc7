"""Records and storage: a run's rows as DataFrames (:class:`~swarmlab.store.records.RunRecord`),
the journal a run appends as it goes, spilled parts, the folder of saved runs
(:class:`RunStore`) and journals read while they grow."""

from .runs import RunStore, load_run, save_run

__all__ = ["RunStore", "save_run", "load_run"]
