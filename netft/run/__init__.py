"""What a training run keeps and writes as it goes: its state, run dir, resume lookup,
preemption signals, step metrics, tracker, Hydra job tidying and final weights."""
