"""Measured quality of a release: diversity per scenario and overlap with other question sets."""
