"""Learning from experience: training code (``imitation``: the demo that imitates an oracle)."""
