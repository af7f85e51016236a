"""Runners: execute a job's work units in one process (local) or on a Ray cluster."""
