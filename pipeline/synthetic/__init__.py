"""Synthetic data, in one place: a registry of generators (one per optimizer/module,
`generators`), a profile selector (`profiles`), real content from the configured backend
(pipeline.content), queries written by DSPy programs (`programs`), the service that turns a
request into checked, deduplicated examples (`service`), their schemas (`schemas`), and which
generators a synthesize run runs (`selection`). Never invented content: an empty backend gives
no data."""

from pipeline.synthetic.generators import REGISTRY, Generator, get_generator
from pipeline.synthetic.schemas import SyntheticDataRequest, SyntheticDataResponse
from pipeline.synthetic.service import LMScope, generate

__all__ = ["REGISTRY", "Generator", "LMScope", "SyntheticDataRequest", "SyntheticDataResponse", "generate",
           "get_generator"]
