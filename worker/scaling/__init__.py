"""GPU worker autoscaling on queue depth: a pure policy and a simulator to tune it."""
