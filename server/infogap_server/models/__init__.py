"""The contract shared by serving and training: the model repository's layout and config.pbtxt (read and write),
tensor names, what a model's outputs mean and how they are scored, and the registry of the served versions.

Training imports from here; nothing here (or anywhere in serving) imports :mod:`infogap_server.training`, which
needs torch."""
