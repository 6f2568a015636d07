"""kear's knowledge side: records in every supported format, knowledge sources, and the retrieval pipeline.

Nothing here imports torch or a model: ``kear`` (the model side) builds on this package, never the reverse.
"""

from . import conceptnet, dictionary, examples  # noqa: F401  (registers the sources, in this order)
from .cache import KnowledgeCache
from .conceptnet import ConceptNetConfig, ConceptNetIndex, ConceptNetSource, ingest_conceptnet, verbalize
from .config import RetrievalConfig
from .dictionary import DictionaryConfig, DictionaryIndex, DictionarySource, ingest_wiktionary, ingest_wordnet
from .errors import ConfigError, DataError, ErrorPolicy, KearError
from .examples import ExamplesConfig, ExamplesSource
from .pipeline import RetrievalReport, annotate, build_sources, retrieve_file
from .records import Choice, Record, read_records, record_from_dict, write_records
from .settings import load_settings
from .source import SOURCES, Knowledge, KnowledgeSource, register

__all__ = [
    "SOURCES",
    "Choice",
    "ConceptNetConfig",
    "ConceptNetIndex",
    "ConceptNetSource",
    "ConfigError",
    "DataError",
    "DictionaryConfig",
    "DictionaryIndex",
    "DictionarySource",
    "ErrorPolicy",
    "ExamplesConfig",
    "ExamplesSource",
    "KearError",
    "Knowledge",
    "KnowledgeCache",
    "KnowledgeSource",
    "Record",
    "RetrievalConfig",
    "RetrievalReport",
    "annotate",
    "build_sources",
    "ingest_conceptnet",
    "ingest_wiktionary",
    "ingest_wordnet",
    "load_settings",
    "read_records",
    "record_from_dict",
    "register",
    "retrieve_file",
    "verbalize",
    "write_records",
]
