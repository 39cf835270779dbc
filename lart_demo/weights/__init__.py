"""The weights folder: what must be in it, where each file comes from, and how it gets there.

One module per concern: `files` (paths inside the folder), `manifest` (what is needed, from where),
`status` (present/missing), `verify` (is a file the right one; does every model load and run), `lock`
(trust on first download), `fetch` (downloads), `importer` (files from an existing upstream install),
`smpl` (the licensed body model), `random` (random weights for tests), `mirror` (copy to a Hub repo),
`cli` (`python -m lart_demo weights ...`). Import from those modules; nothing is re-exported here, so
importing `lart_demo.weights.files` stays cheap and free of cycles.
"""
