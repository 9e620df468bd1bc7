"""Experiments that run the drivers: comparisons of set-ups with verdicts, the set-ups
themselves, and resuming a killed run."""
