"""The real-time clock: :class:`~swarmlab.realtime.executor.ParallelExecutor` drives the core
from an asyncio loop and runs task bodies on a backend; the engine, its timers, the
executor's lifecycle and the resource monitor are its parts."""
