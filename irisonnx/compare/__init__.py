"""The compare stage: stats (the one comparator), runner (run runtimes on inputs and compare),
inputs (file/random/test), locate (first diverging node) and render (text/JSON)."""
