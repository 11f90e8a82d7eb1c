"""The demo world: rendered garments with known attributes, modification texts, FashionIQ layout.

Torch-free (PIL + numpy): the trainer uses it to make training data, and the engine to
build the demo photo library on first run. See docs/world.md.
"""
