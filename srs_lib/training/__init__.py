"""Training and evaluating a ranking model: configurations and profiles, the batch pipeline,
the losses, the trainer, its command lines and the throughput benchmark."""
