"""The dataset floor: the datastore (download, process, split), the one CSV reader, the
input-file readers (CSV/.npy/.npz/JSON), and the golden I/O set format (data/golden.py)."""
