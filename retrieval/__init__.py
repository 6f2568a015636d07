"""kear's knowledge side: records in every supported format, knowledge sources, and the retrieval pipeline.

Nothing here imports torch or a model: ``kear`` (the model side) builds on this package, never the reverse.
Names are imported on first use, so taking a :class:`Record` or an error class loads no knowledge source.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .lazy import lazy_exports

# public name -> the module that defines it
_EXPORTS = {
    "Annotator": "pipeline",
    "Choice": "records",
    "ClusterConfig": "cluster",
    "ConceptNetConfig": "conceptnet",
    "ConceptNetIndex": "conceptnet",
    "ConceptNetSource": "conceptnet",
    "ConfigError": "errors",
    "DataError": "errors",
    "DictionaryConfig": "dictionary",
    "DictionaryIndex": "dictionary",
    "DictionarySource": "dictionary",
    "ErrorPolicy": "errors",
    "ExamplesConfig": "examples",
    "ExamplesSource": "examples",
    "KearError": "errors",
    "Knowledge": "source",
    "KnowledgeCache": "cache",
    "KnowledgeSource": "source",
    "Record": "records",
    "RetrievalConfig": "config",
    "RetrievalReport": "pipeline",
    "Segment": "source",
    "annotate": "pipeline",
    "as_records": "records",
    "build_sources": "pipeline",
    "default_segments": "source",
    "index_examples": "examples",
    "ingest_conceptnet": "conceptnet",
    "ingest_wiktionary": "dictionary",
    "ingest_wordnet": "dictionary",
    "load_settings": "settings",
    "read_records": "records",
    "record_from_dict": "records",
    "register": "source",
    "retrieve_file": "pipeline",
    "segments": "source",
    "sources": "source",
    "write_records": "records",
}
__all__ = [
    "Annotator",
    "Choice",
    "ClusterConfig",
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
    "Segment",
    "annotate",
    "as_records",
    "build_sources",
    "default_segments",
    "index_examples",
    "ingest_conceptnet",
    "ingest_wiktionary",
    "ingest_wordnet",
    "load_settings",
    "read_records",
    "record_from_dict",
    "register",
    "retrieve_file",
    "segments",
    "sources",
    "write_records",
]

if TYPE_CHECKING:
    from .cache import KnowledgeCache
    from .cluster import ClusterConfig
    from .conceptnet import ConceptNetConfig, ConceptNetIndex, ConceptNetSource, ingest_conceptnet
    from .config import RetrievalConfig
    from .dictionary import DictionaryConfig, DictionaryIndex, DictionarySource, ingest_wiktionary, ingest_wordnet
    from .errors import ConfigError, DataError, ErrorPolicy, KearError
    from .examples import ExamplesConfig, ExamplesSource, index_examples
    from .pipeline import Annotator, RetrievalReport, annotate, build_sources, retrieve_file
    from .records import Choice, Record, as_records, read_records, record_from_dict, write_records
    from .settings import load_settings
    from .source import Knowledge, KnowledgeSource, Segment, default_segments, register, segments, sources


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
