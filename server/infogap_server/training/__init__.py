"""The model pipeline: train, calibrate, export, quantize, write the model repository."""
