"""Plugins that exist only to test entry-point discovery."""
