"""The plugin shell: ``main`` (the entry point: arguments, the cheap paths, the last-resort
guard), ``runner`` (settings -> probe -> evaluation -> output, within the deadline) and
``demo`` (the probe against the built-in emulator)."""
