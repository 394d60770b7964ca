"""The edge: reading input files (:mod:`dosing.io.read`), writing outputs (:mod:`dosing.io.write`),
and the study folder's safety (atomic swaps, manifest, lock, permissions, OS error texts)."""
