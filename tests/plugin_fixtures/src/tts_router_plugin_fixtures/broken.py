"""A plugin that fails on import: discovery must record it and keep the others."""

raise ImportError("fixture_broken is broken on purpose")
