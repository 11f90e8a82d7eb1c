"""cirsearch engine: everything the desktop app needs at run time.

Imports neither torch nor Qt. Each heavy dependency has one home module:
onnxruntime in ``engine.runtime``, faiss in ``engine.faiss_index``.
"""

__version__ = "0.1.0"
