"""The adapter as an artifact, and the Hub it travels through; plain file I/O and HTTP, no model code.

`folder` reads and writes adapter folders, `card` renders their model cards, `transport` downloads,
uploads and lists Hub repositories. Reading an adapter folder needs neither torch nor the methods
(`geoadapters info` reads a folder without importing torch). What a reference means is decided above
them, in `geoadapters.references`.
"""
