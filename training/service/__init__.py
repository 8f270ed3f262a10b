"""Training as a service: datasets imported on the CPU queue, training runs on the ``train``
queue under a lease, checkpoints and models in the object store."""
