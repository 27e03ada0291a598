"""Join: ship an order once its payment arrives, matched by order id; unmatched orders are reported.

Runs offline with a deterministic engine; time is virtual so the 5-minute window passes instantly.
"""

from __future__ import annotations

from datetime import timedelta

import anyio
from pydantic import BaseModel

from flock_core import EvaluationRequest, Flock, JoinSpec
from flock_core.testing import FunctionEngine, VirtualClock


class Order(BaseModel):
    order_id: int
    item: str


class Payment(BaseModel):
    order_id: int
    amount: float


class Shipment(BaseModel):
    order_id: int
    item: str
    amount: float


def ship(request: EvaluationRequest) -> list[BaseModel]:
    order = next(p for p in request.payloads if isinstance(p, Order))
    payment = next(p for p in request.payloads if isinstance(p, Payment))
    return [Shipment(order_id=order.order_id, item=order.item, amount=payment.amount)]


async def main() -> None:
    clock = VirtualClock()
    flock = Flock(engine=FunctionEngine(ship), clock=clock)
    for model in (Order, Payment, Shipment):
        flock.register_type(model)
    join = JoinSpec(by=lambda p: p.order_id, within=timedelta(minutes=5))
    flock.agent("shipper").consumes(Order, Payment, join=join).publishes(Shipment)

    await flock.publish(Payment(order_id=2, amount=12.5))  # arrives before its order
    await flock.publish(Order(order_id=1, item="lamp"))  # never paid
    await flock.publish(Order(order_id=2, item="chair"))
    await flock.run_until_idle()
    clock.advance(timedelta(minutes=6))
    await flock.run_until_idle()

    for shipment in await flock.store.get_by_type(Shipment):
        print("shipped:", shipment.model_dump())
    for expired in flock.expired_joins:
        print(f"expired: order {expired.key} ({expired.reason})")


if __name__ == "__main__":
    anyio.run(main)
