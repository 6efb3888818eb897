"""Synthetic data service: a registry of generators (one per optimizer/module), a profile
selector, real content from the configured backend, DSPy-written queries. Never invented
content: an empty backend gives no data."""

from pipeline.synthetic.generators import REGISTRY, Generator, get_generator
from pipeline.synthetic.schemas import SyntheticDataRequest, SyntheticDataResponse
from pipeline.synthetic.service import LMScope, generate

__all__ = ["REGISTRY", "Generator", "LMScope", "SyntheticDataRequest", "SyntheticDataResponse", "generate",
           "get_generator"]
