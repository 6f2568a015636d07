"""The ``kear-multiple-choice`` pipeline: a kear model behind transformers' ``pipeline()``.

``import kear`` registers the task with transformers (as soon as transformers is imported, see ``kear/__init__.py``;
nothing needs ``trust_remote_code``)::

    import kear
    from transformers import pipeline

    answer = pipeline("kear-multiple-choice", model="runs/seed1/best")
    answer({"question": "Where is milk kept?", "choices": ["fridge", "attic", "roof"]})
    # [{"label": "A", "text": "fridge", "score": 0.91}, {"label": "C", ...}, {"label": "B", ...}]

**Input**: one question as a dict, in any layout kear reads (:func:`retrieval.records.record_from_dict`): plain
(``question``, ``choices``: a list of texts), CommonsenseQA's official JSONL (``question: {stem, choices,
question_concept}``) or the Hub schema of ``tau/commonsense_qa`` (``choices: {label, text}``), with or without
knowledge fields; ``id`` is optional. A list of them (or any other iterable, such as a ``datasets.Dataset``) is
answered in one go: one retrieval for all, then forward passes over batches of similar length.

**Output**: for one question, its choices best first (as transformers' classification pipelines sort their labels),
each ``{"label", "text", "score"}``, ``score`` being the choice's probability (the softmax of the model's scores
over the choices, after the model's rules); for a list of questions, a list of such lists.

**Knowledge** the model was trained with is retrieved for the questions that lack it, with the retrieval settings
saved in the model, exactly as ``kear predict`` does: the pipeline is a thin layer over a :class:`kear.Predictor`,
made once with the pipeline and kept, whose knowledge sources open on first need and stay open.

Settings of ``pipeline(...)`` besides transformers' own (``device``...): ``batch_size`` (records per forward pass),
``retrieval_overrides`` (``key=value`` changes to the model's retrieval settings, e.g.
``["conceptnet.index=indexes/conceptnet"]``) and ``inference`` (the backend, as ``kear predict --inference``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from transformers import AutoModelForMultipleChoice
from transformers.pipelines import PIPELINE_REGISTRY, Pipeline

from retrieval.errors import KearError, first_line
from retrieval.records import Record, record_from_dict

if TYPE_CHECKING:  # this module is imported whenever transformers.pipelines is: it loads only what registering needs
    from .evaluation import Prediction
    from .inference import InferenceConfig

logger = logging.getLogger(__name__)

TASK = "kear-multiple-choice"
# pipeline() hands these to every pipeline class, whether it takes them or not; they served to load the model
LOADING_SETTINGS = ("local_files_only",)


def input_record(item: Any, position: int) -> Record:
    """The record of one pipeline input.

    Args:
        item: the question, a dict in a layout kear reads.
        position: its place among the call's inputs, from 0: its id when it has none, and named in errors.

    Raises:
        KearError: an input kear cannot read, in one line naming its place.
    """
    if isinstance(item, dict) and item.get("id") is None:
        item = {**item, "id": str(position)}
    try:
        return record_from_dict(item)
    except ValueError as error:
        raise KearError(f"{TASK} input {position + 1}: {first_line(error)}") from None


def ranked_choices(prediction: Prediction) -> list[dict[str, Any]]:
    """A prediction's choices, most probable first: ``label``, ``text`` and ``score`` (the probability).

    Args:
        prediction: the prediction of one record.
    """
    texts = prediction.texts or [None] * len(prediction.labels)
    choices = [
        {"label": label, "text": text, "score": probability}
        for label, text, probability in zip(prediction.labels, texts, prediction.probabilities)
    ]
    return sorted(choices, key=lambda choice: -choice["score"])  # stable: ties keep the input's order


class KearPipeline(Pipeline):
    """Answers multiple-choice questions with a kear model, with the knowledge it was trained with (see this
    module's docstring for inputs and outputs).

    Args:
        model: a kear model (:class:`kear.KearModel`); ``pipeline()`` loads one from a folder or Hub id.
        tokenizer: its tokenizer; default: the one saved beside it.
        retrieval_overrides: ``key=value`` changes to the model's retrieval settings.
        inference: how the model runs (:mod:`kear.inference`): ``torch`` (default), ``torch-bf16``,
            ``torch-int8``, ``onnx``, ``onnx-int8`` or an :class:`kear.inference.InferenceConfig`.
        kwargs: transformers' ``Pipeline`` arguments: ``device``, ``batch_size`` (records per forward pass)...

    Raises:
        KearError: a model that is not a kear model, or settings kear refuses, in one line.
    """

    # optional, so that pipeline() with a model object and no tokenizer gets here: the model's saved one is used
    _load_tokenizer = None
    _load_processor = False
    _load_image_processor = False
    _load_video_processor = False
    _load_feature_extractor = False

    def __init__(
        self,
        model: Any,
        tokenizer: Any = None,
        *,
        retrieval_overrides: Sequence[str] = (),
        inference: str | InferenceConfig | None = None,
        **kwargs: Any,
    ) -> None:
        # imported here, not at the top: this module is imported whenever transformers.pipelines is (to register
        # the task), and the predictor's code is needed only once a kear pipeline is made
        from .modeling import KearModel
        from .predictor import Predictor

        if not isinstance(model, KearModel):
            raise KearError(f"the {TASK} pipeline needs a kear model (KearModel), got {type(model).__name__}")
        super().__init__(model, tokenizer if tokenizer is not None else model.saved_tokenizer(), **kwargs)
        batch = {} if self._batch_size is None else {"batch_size": self._batch_size}
        self.predictor = Predictor(
            self.model, self.tokenizer, retrieval_overrides=retrieval_overrides, inference=inference, **batch
        )

    def _sanitize_parameters(self, **settings: Any) -> tuple[dict, dict, dict]:
        """Refuse settings this pipeline does not take (its own are arguments of ``__init__``).

        Args:
            settings: what ``pipeline()`` or the constructor passed beyond the arguments they know.
        """
        unknown = sorted(set(settings) - set(LOADING_SETTINGS))
        if unknown:
            raise KearError(
                f"the {TASK} pipeline has no setting {', '.join(unknown)} (its own: retrieval_overrides, inference, "
                "batch_size)"
            )
        return {}, {}, {}

    def __call__(self, inputs: Any, **settings: Any) -> list[dict[str, Any]] | list[list[dict[str, Any]]]:
        """Answer one question (a dict) or several (a list or another iterable of dicts).

        The questions of one call are answered together, not one by one as the base class's loop over
        ``preprocess``, ``_forward`` and ``postprocess`` would: the predictor retrieves knowledge for all of them
        at once and scores them in batches of similar length, which is what makes it fast.

        Args:
            inputs: the question or questions (see this module's docstring for the layouts).
            settings: none are taken per call (``batch_size`` and the others are set when the pipeline is made);
                any is refused.

        Raises:
            KearError: a setting, an input kear cannot read, or knowledge that cannot be retrieved, in one line.
        """
        if settings:
            raise KearError(
                f"the {TASK} pipeline takes no settings per call (got {', '.join(sorted(settings))}): give them to "
                "pipeline(...)"
            )
        one = isinstance(inputs, (dict, str))
        if not one and not isinstance(inputs, Iterable):
            raise KearError(f"{TASK} takes a question (a dict) or a list of them, got {type(inputs).__name__}")
        items = [inputs] if one else list(inputs)
        records = [self.preprocess(item, position)["records"][0] for position, item in enumerate(items)]
        answers = self.postprocess(self.forward({"records": records})) if records else []
        return answers[0] if one else answers

    def preprocess(self, input_: Any, position: int = 0) -> dict[str, list[Record]]:
        """One question as the records the predictor takes.

        Args:
            input_: the question.
            position: its place among the call's inputs, from 0 (its id when it has none).
        """
        return {"records": [input_record(input_, position)]}

    def _forward(self, input_tensors: dict[str, list[Record]]) -> dict[str, list[Prediction]]:
        """The predictor's predictions (knowledge retrieved where records lack it).

        Args:
            input_tensors: ``records``: the records to answer.
        """
        return {"predictions": self.predictor.predict(input_tensors["records"])}

    def postprocess(self, model_outputs: dict[str, list[Prediction]]) -> list[list[dict[str, Any]]]:
        """Each prediction's choices, best first (:func:`ranked_choices`).

        Args:
            model_outputs: ``predictions``: what :meth:`_forward` gave.
        """
        return [ranked_choices(prediction) for prediction in model_outputs["predictions"]]

    def save_pretrained(self, save_directory: str | os.PathLike, **kwargs: Any) -> None:
        """Write a kear model folder (:func:`kear.save_model`: weights, config, tokenizer), which
        ``pipeline("kear-multiple-choice", model=FOLDER)`` and ``kear predict`` read.

        The base class would also write a ``custom_pipelines`` entry into the config and copy this module beside
        it, for any registered pipeline; transformers then refuses the folder without ``trust_remote_code``. This
        pipeline's code is kear's, installed, so none of that is written.

        Args:
            save_directory: the folder.
            kwargs: what ``push_to_hub`` passes (``safe_serialization``, ``max_shard_size``); kear always writes
                one safetensors file.
        """
        from .modeling import save_model

        save_model(self.model, self.tokenizer, save_directory)

    def close(self) -> None:
        """Close the knowledge sources' cache."""
        self.predictor.close()


def register_pipeline() -> None:
    """Register the ``kear-multiple-choice`` task with transformers' ``pipeline()`` (once: registering it again
    would only log a warning that it is overwritten)."""
    if PIPELINE_REGISTRY.supported_tasks.get(TASK, {}).get("impl") is KearPipeline:
        return
    PIPELINE_REGISTRY.register_pipeline(TASK, pipeline_class=KearPipeline, pt_model=AutoModelForMultipleChoice)


register_pipeline()
