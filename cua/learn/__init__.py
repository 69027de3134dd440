"""Learning: datasets from the agent's own verified runs, trainers, the paired gate, the model registry."""
