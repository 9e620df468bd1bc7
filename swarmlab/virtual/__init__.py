"""The virtual clock: :func:`~swarmlab.virtual.simulation.simulate` drives the same core on a
discrete-event loop; duration models say how long a simulated task takes, and replays run a
recorded run again under another scheduler; a simulated task may carry its provider
calls (:class:`Call`)."""

from .calls import Call

__all__ = ["Call"]
