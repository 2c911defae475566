"""The core's own plugins, registered by module path (never through entry points)."""
