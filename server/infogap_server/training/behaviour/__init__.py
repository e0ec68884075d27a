"""The behaviour model's pipeline (issue 11), in stages: data (events, time split, labels), baselines, and, to
come, the GRU's fit, export and evaluation."""
