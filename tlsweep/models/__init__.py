"""Encoders (MONAI wrappers, SFCN, tiny3d) and heads."""
