"""The pipeline: the stages (data -> train -> verify -> export -> compare -> edge -> bench ->
report) as Stage objects, and the runner that runs them in order."""
