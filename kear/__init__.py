"""kear: knowledge-augmented multiple-choice question answering (KEAR) on Hugging Face tools.

The knowledge side lives in the sibling package :mod:`retrieval` (records, knowledge sources, retrieval
pipeline); this package holds the model side and the ``kear`` command.
"""

__version__ = "0.1.0"
