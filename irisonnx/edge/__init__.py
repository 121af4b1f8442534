"""The edge stage: build (the bundle), gates (accuracy/tolerance checks and timing), render,
variants/ (one file per variant behind a registry) and template/predict.py (the bundle's script)."""
