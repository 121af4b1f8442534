"""The report stage: the HTML report of a run and its plots."""
