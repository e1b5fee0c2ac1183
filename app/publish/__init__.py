"""Publishing a run: the check run, the sticky comment and reactions (I/O), and what they show (pure)."""
