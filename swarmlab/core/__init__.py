"""The clock-free core: the :class:`~swarmlab.core.dispatcher.Dispatcher` state machine, the
state of a task, the pool's changes while a run goes on, and the admission decisions.

Nothing here sleeps, starts a thread or reads a clock: time arrives as an argument, so
the real-time executor (:mod:`swarmlab.realtime`) and the simulator
(:mod:`swarmlab.virtual`) drive the very same rules.
"""
