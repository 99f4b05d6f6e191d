"""The life cycle of a model version, in one place."""

from core.statemachine import StateMachine
from scoring.choices import ModelStatus as S

MODEL_STATES = StateMachine(
    "ModelVersion.status",
    {
        S.CANDIDATE: {S.SHADOW, S.CANARY, S.CHAMPION, S.RETIRED},
        S.SHADOW: {S.CANARY, S.CHAMPION, S.RETIRED},
        S.CANARY: {S.SHADOW, S.CHAMPION, S.RETIRED},
        S.CHAMPION: {S.RETIRED},
        # A retired version comes back only as a rollback to champion.
        S.RETIRED: {S.CHAMPION},
    },
)
