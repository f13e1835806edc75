"""Which labels and which subjects a method reads: its declared :class:`LabelUse`.

A transfer-learning comparison is only fair when it says what each method was given. "Labels
unused" is not true of y-aware SimCLR, which weights its positives by the *target variable* of
the source subjects, nor of supervised pretraining, nor of stage 1 of ``source_then_target``,
which scores any pretraining on the source task's labels. So every method declares, from its
configuration, the labels it reads (the target task's, the source task's, a participants-table
column of the source subjects) and the split roles whose images it trains on; runs tag MLflow
with it (``tlsweep.labels``, ``tlsweep.roles``) and the report's methods table shows it.
``tests/methods/test_contract.py`` checks the declaration against what a method touches.

Every run also reads the ``val`` role's target labels (early stopping and selection) and a final
seed the ``test`` role's (its one score); those are the protocol's, not a method's, and are not
declared.
"""

from __future__ import annotations

from dataclasses import dataclass

TARGET_TASK = "target_task"  # the target task's labels, of the target training subjects
SOURCE_TASK = "source_task"  # the source task's labels, of the source subjects
META = "meta:"  # + a participants-table column read for the source subjects, e.g. meta:age
# split roles whose images a method may train on (val and test are held out)
TRAINING_ROLES = ("source", "source_val", "train", "unlabelled")
LABELS_TAG, ROLES_TAG = "tlsweep.labels", "tlsweep.roles"


def meta(column: str) -> str:
    """The label name of participants-table column ``column`` read for the source subjects."""
    return f"{META}{column}"


def _role_order(role: str) -> int:
    return TRAINING_ROLES.index(role) if role in TRAINING_ROLES else len(TRAINING_ROLES)


@dataclass(frozen=True)
class LabelUse:
    """The labels and subject roles one kind of run of a method reads.

    Attributes:
        labels: :data:`TARGET_TASK`, :data:`SOURCE_TASK` and ``meta:<column>`` names, sorted.
        roles: split roles (:data:`TRAINING_ROLES`) whose images it uses, sorted; ``source``
            and ``source_val`` are the source set, ``train`` the labelled target training
            set, ``unlabelled`` the target pool's unlabelled subjects.
    """

    labels: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", tuple(sorted(set(self.labels))))
        object.__setattr__(self, "roles", tuple(sorted(set(self.roles), key=_role_order)))
        unknown = [r for r in self.roles if r not in TRAINING_ROLES]
        if unknown:
            raise ValueError(f"roles {unknown}: a method trains only on {TRAINING_ROLES}")

    def __or__(self, other: LabelUse) -> LabelUse:
        return LabelUse(self.labels + other.labels, self.roles + other.roles)

    @property
    def meta_columns(self) -> tuple[str, ...]:
        """The participants-table columns read for the source subjects."""
        return tuple(label.removeprefix(META) for label in self.labels if label.startswith(META))

    def tags(self) -> dict[str, str]:
        """The MLflow tags of a run: ``tlsweep.labels`` and ``tlsweep.roles``, comma-joined."""
        return {LABELS_TAG: ",".join(self.labels), ROLES_TAG: ",".join(self.roles)}


# stage 1 of source_then_target scores a pretraining on the source task (its head, or a probe)
SOURCE_SCORING = LabelUse((SOURCE_TASK,), ("source", "source_val"))
