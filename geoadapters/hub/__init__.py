"""The adapter as an artifact: its folder on disk, its model card, references to it, and the Hub client.

Plain file I/O and HTTP, free of model code: reading an adapter folder needs neither torch models nor
the methods (`geoadapters info` reads a folder without importing torch).
"""
