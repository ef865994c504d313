"""The reference analysis container: the HTTP contract (``openapi.yaml``)
and real analysis of images, PDFs and text."""

__version__ = "0.1.0"
