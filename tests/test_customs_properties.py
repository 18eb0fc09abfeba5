"""Properties of write-offs (domain code on a real SQLite file): whatever the sequence of checks,
repeats and reversals, the balance is the licensed quantity minus what was accepted and not
reversed, never below zero, and the licence is exhausted exactly when nothing is left."""

from __future__ import annotations

import itertools
from decimal import Decimal

from customs_support import customs_licence, declaration, mrn, today
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.customs import CustomsDesk
from node.errors import Conflict
from node.licences import LicenceRegistry
from node.runtime import NodeRuntime
from node.schema import migrate

QUANTITIES = st.decimals(min_value=Decimal("0.5"), max_value=Decimal("8"), places=1)
OPERATIONS = st.lists(st.one_of(
    st.tuples(st.just("check"), QUANTITIES),
    st.tuples(st.just("repeat"), st.integers(min_value=0, max_value=30)),
    st.tuples(st.just("reverse"), st.integers(min_value=0, max_value=30)),
), min_size=1, max_size=25)

SERIALS = itertools.count(1)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(total=st.integers(min_value=1, max_value=20), operations=OPERATIONS)
def test_balance_is_licensed_minus_accepted_and_not_reversed(node_dir, total, operations):
    runtime = NodeRuntime(node_dir)
    migrate(runtime.db())
    try:
        db = runtime.db()
        number = f"MT/LIC/P/{next(SERIALS)}"
        LicenceRegistry(db, "MT").create(customs_licence(number, lines=[
            {"line_no": 1, "cn_code": "84581110", "quantity": str(total), "unit": "pcs"}]), actor="test")
        desk = CustomsDesk(db, "MT")
        done: list[tuple[dict, Decimal]] = []      # (body, quantity) of every check sent
        accepted: dict[str, Decimal] = {}           # declaration ref -> quantity, while not reversed
        reversed_refs: set[str] = set()
        for kind, arg in operations:
            if kind == "check":
                body = declaration(next(SERIALS), quantity=str(arg), value=None, currency=None)
                left = Decimal(total) - sum(accepted.values(), Decimal(0))
                answer = desk.check(number, body, actor="test").answer
                assert answer["result"] == ("accepted" if arg <= left and left > 0 else
                                            "licence_invalid" if left == 0 else "exceeds_balance"), (answer, left)
                if answer["result"] == "accepted":
                    accepted[body["declaration_ref"]] = arg
                done.append((body, arg))
            elif kind == "repeat" and done:
                body, _ = done[arg % len(done)]
                if body["declaration_ref"] in reversed_refs:
                    try:
                        desk.check(number, body, actor="test")
                        raise AssertionError("a reversed declaration must not be answered again")
                    except Conflict:
                        pass
                else:
                    outcome = desk.check(number, body, actor="test")
                    assert outcome.replayed
            elif kind == "reverse" and done:
                body, _ = done[arg % len(done)]
                ref = body["declaration_ref"]
                if ref in accepted:
                    answer = desk.reverse(number, ref, {"reason": "invalidated"}, actor="test").answer
                    assert Decimal(answer["restored"]["quantity"]) == accepted.pop(ref)
                    reversed_refs.add(ref)
                else:
                    try:
                        desk.reverse(number, ref, {"reason": "invalidated"}, actor="test")
                        raise AssertionError("only an accepted, unreversed check can be reversed")
                    except Conflict:
                        pass
            doc = LicenceRegistry(db, "MT").find(number)
            balance = Decimal(doc["lines"][0]["balance_quantity"])
            assert balance == Decimal(total) - sum(accepted.values(), Decimal(0))
            assert balance >= 0
            assert doc["status"] == ("exhausted" if balance == 0 else "valid")
    finally:
        runtime.close()


def test_mrn_helper_builds_references_the_api_accepts():
    from node.customs_schemas import mrn_problem

    for serial in (1, 42, "ABC123", 9999999999999):
        ref = mrn(serial)
        assert len(ref) == 18 and mrn_problem(ref) is None
        assert ref[:2] == f"{today().year % 100:02d}"
