"""The contract shared by serving and training: what a model's outputs mean and how they are scored.

Serving code imports from here, never from :mod:`infogap_server.training` (which needs torch)."""
