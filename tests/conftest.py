"""Shared test setup: session fixtures that live in their own modules are registered here."""

# A session fixture imported into several test modules would start once per module; registered
# as a plugin it starts once per session.
pytest_plugins = ["label_studio_fixtures"]
