"""The updater: approved action items become edits inside managed blocks, and one improvement PR."""
