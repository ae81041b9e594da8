"""The code MLflow runs to load a registered tagifai model ("models from code"): nothing is unpickled.

:func:`tagifai_platform.registry.log_model` stores this file in every model it logs, with
``tagger.py`` (through ``code_paths``, which MLflow puts on ``sys.path`` before running this file)
and the fitted pipeline as a skops artifact. ``mlflow.pyfunc.load_model`` then works wherever the
model's own requirements are installed, and ``mlflow models serve`` answers what ``tagifai serve``
answers. The project never imports this module; it is read by MLflow alone, so it imports nothing
of ``tagifai_platform``.
"""

import mlflow
import pandas as pd
import tagger
from mlflow.pyfunc import PythonModel


class TagifaiModel(PythonModel):
    """Texts in (a ``text`` column), a ``tag`` and one probability column per class out."""

    def load_context(self, context) -> None:
        self.pipeline = tagger.load_pipeline(context.artifacts["pipeline"])
        self.threshold = float(context.model_config["threshold"])

    # The hints say "a frame": the signature logged with the model describes its columns.
    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        probabilities = self.pipeline.predict_proba(tagger.as_texts(model_input))
        return tagger.answer_frame(probabilities, self.pipeline.classes_, self.threshold)


mlflow.models.set_model(TagifaiModel())
