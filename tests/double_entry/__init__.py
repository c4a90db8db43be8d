"""Broken variants of the model's transitions that only the double entry refutes: each
module (named as in ``exo.model``) has ``BROKEN``, a map from an operation to a list of
``(description, transition)``. ``tests/test_proofs.py`` checks that every variant keeps
the operation's other obligations (failure, frame, effect, every invariant, every
theorem) and is refuted by ``post/OP/sound``."""
