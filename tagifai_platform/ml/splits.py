"""Train/validation/test splits that keep every tag's share and come out the same for the same seed.

Stratifying matters here because ``mlops`` is under a tenth of the projects: an unstratified
15 % split can leave the validation set with a handful of them, and the threshold tuned on it
would then be tuned on noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class Splits:
    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame

    def as_dict(self) -> dict[str, pd.DataFrame]:
        return {"train": self.train, "validation": self.validation, "test": self.test}

    @classmethod
    def of(cls, dataset: pd.DataFrame) -> Splits:
        """The splits of a data set stored with a ``split`` column; other splits (``recent_eval``,
        rows without features) are not for training and are left out."""
        parts = {
            name: part.drop(columns=["split"]).reset_index(drop=True)
            for name, part in dataset.groupby("split")
        }
        return cls(train=parts["train"], validation=parts["validation"], test=parts["test"])


def split_dataset(
    df: pd.DataFrame, *, seed: int, validation_fraction: float = 0.15, test_fraction: float = 0.15
) -> Splits:
    """Split ``df`` into disjoint train/validation/test frames, stratified on ``tag``.

    Fractions are of the whole frame. The frames keep all columns and get a fresh index.
    """
    from sklearn.model_selection import train_test_split

    if not (
        0 < validation_fraction < 1 and 0 < test_fraction < 1 and validation_fraction + test_fraction < 1
    ):
        raise ValueError(
            f"fractions must be in (0, 1) and leave rows to train on, got validation={validation_fraction} "
            f"and test={test_fraction}"
        )
    rest, test = train_test_split(df, test_size=test_fraction, stratify=df["tag"], random_state=seed)
    train, validation = train_test_split(
        rest,
        test_size=validation_fraction / (1 - test_fraction),
        stratify=rest["tag"],
        random_state=seed,
    )
    return Splits(*(part.reset_index(drop=True) for part in (train, validation, test)))
