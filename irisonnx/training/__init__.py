"""Training (torch, imported only inside the functions that need it): the model, the train
loop, checkpoints, the run folder format, verify, and loading a user's torch module."""
