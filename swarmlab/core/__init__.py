"""The clock-free core: the :class:`~swarmlab.core.dispatcher.Dispatcher` state machine
(:mod:`~swarmlab.core.dispatcher`, its transition table in the module docstring), the
state of a task (:mod:`~swarmlab.core.taskstate`), and what the dispatcher owns: the
per-agent queues that work stealing sees (:mod:`~swarmlab.core.queues`), the agents as
they join and leave (:mod:`~swarmlab.core.pool`), the checks a submitted batch passes
(:mod:`~swarmlab.core.submission`) and the duration estimator's part
(:mod:`~swarmlab.core.estimates`); beside it, the admission decisions
(:mod:`~swarmlab.core.admission`).

Nothing here sleeps, starts a thread or reads a clock: time arrives as an argument, so
the real-time executor (:mod:`swarmlab.realtime`) and the simulator
(:mod:`swarmlab.virtual`) drive the very same rules.
"""
