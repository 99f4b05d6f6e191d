"""Return on investment from recorded work and a few cost inputs. Pure (no ORM).

    value      = Σ executed actions of a kind × minutes a person would have spent on it × hourly cost
               + incremental conversions (treatment minus control rate × treated leads) × value per conversion
    cost       = people's decisions × minutes per decision × hourly cost
               + executed actions / 1,000 × compute cost per 1,000 + vendor cost for the period
    net        = value − cost;  ROI = net / cost

Coverage is the share of decided actions that ran without a person; the error reduction is the
share of proposals people caught before they ran (rejected or edited), i.e. errors that did not
reach a customer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class CostInputs:
    hourly_cost: float
    minutes_saved: Mapping[str, float]
    minutes_per_decision: float
    compute_per_1000: float
    vendor_cost_per_month: float
    value_per_conversion: float


@dataclass(frozen=True)
class Volumes:
    days: int
    executed: Mapping[str, int]
    human_decisions: int
    auto_decisions: int
    caught: int  # rejected or edited by people
    extra_conversions: float  # from experiments: (treatment − control rate) × treated leads


@dataclass(frozen=True)
class Roi:
    hours_saved: float
    time_value: float
    conversion_value: float
    approval_cost: float
    compute_cost: float
    vendor_cost: float
    net: float
    roi: float | None
    coverage: float | None
    caught_share: float | None
    by_kind: list[tuple[str, int, float]]  # kind, executed, hours saved


def roi(inputs: CostInputs, volumes: Volumes) -> Roi:
    by_kind = [
        (kind, n, n * inputs.minutes_saved.get(kind, 0.0) / 60)
        for kind, n in sorted(volumes.executed.items())
    ]
    hours = sum(h for _, _, h in by_kind)
    time_value = hours * inputs.hourly_cost
    conversion_value = max(volumes.extra_conversions, 0.0) * inputs.value_per_conversion
    approval_cost = volumes.human_decisions * inputs.minutes_per_decision / 60 * inputs.hourly_cost
    compute_cost = sum(volumes.executed.values()) / 1000 * inputs.compute_per_1000
    vendor_cost = inputs.vendor_cost_per_month * volumes.days / 30
    cost = approval_cost + compute_cost + vendor_cost
    net = time_value + conversion_value - cost
    decided = volumes.human_decisions + volumes.auto_decisions
    return Roi(
        hours_saved=hours,
        time_value=time_value,
        conversion_value=conversion_value,
        approval_cost=approval_cost,
        compute_cost=compute_cost,
        vendor_cost=vendor_cost,
        net=net,
        roi=net / cost if cost else None,
        coverage=volumes.auto_decisions / decided if decided else None,
        caught_share=volumes.caught / volumes.human_decisions if volumes.human_decisions else None,
        by_kind=by_kind,
    )
