"""RoomRegistry: membership both ways, empty rooms deleted at once, selection exactly once."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from roomcast.rooms.registry import RoomRegistry


def consistent(reg: RoomRegistry) -> None:
    pairs_by_room = {(sid, room) for room, sids in reg.rooms.items() for sid in sids}
    pairs_by_sid = {(sid, room) for sid, rooms in reg.sids.items() for room in rooms}
    assert pairs_by_room == pairs_by_sid
    assert all(reg.rooms.values()), "an empty room was kept"
    assert all(reg.sids.values()), "a sid without rooms was kept"


def test_add_all_indexes_both_ways() -> None:
    reg = RoomRegistry()
    reg.add_all("a", ["a", "r1", "r2"])
    reg.add_all("b", ["b", "r2"])
    assert reg.rooms == {"a": {"a"}, "r1": {"a"}, "r2": {"a", "b"}, "b": {"b"}}
    assert reg.sids == {"a": {"a", "r1", "r2"}, "b": {"b", "r2"}}
    consistent(reg)


def test_joining_twice_is_a_no_op() -> None:
    reg = RoomRegistry()
    reg.add_all("a", ["r"])
    reg.add_all("a", ["r", "r"])
    assert reg.rooms == {"r": {"a"}}
    assert reg.sids == {"a": {"r"}}


def test_add_all_with_no_rooms_leaves_nothing_behind() -> None:
    reg = RoomRegistry()
    reg.add_all("a", [])
    assert reg.rooms == {} and reg.sids == {}


def test_empty_room_is_deleted_at_once() -> None:
    reg = RoomRegistry()
    reg.add_all("a", ["a", "r"])
    reg.add_all("b", ["b", "r"])
    reg.remove("a", "r")
    assert reg.rooms["r"] == {"b"}
    reg.remove("b", "r")
    assert "r" not in reg.rooms
    consistent(reg)


def test_remove_unknown_is_harmless() -> None:
    reg = RoomRegistry()
    reg.add_all("a", ["a"])
    reg.remove("a", "nope")
    reg.remove("ghost", "a")
    reg.remove("ghost", "nope")
    assert reg.rooms == {"a": {"a"}}
    assert reg.sids == {"a": {"a"}}


def test_leaving_last_room_forgets_the_sid() -> None:
    reg = RoomRegistry()
    reg.add_all("a", ["a"])
    reg.remove("a", "a")
    assert reg.rooms == {} and reg.sids == {}


def test_remove_all_returns_rooms_and_cleans_everything() -> None:
    reg = RoomRegistry()
    reg.add_all("a", ["a", "r1", "r2"])
    reg.add_all("b", ["b", "r2"])
    assert reg.remove_all("a") == {"a", "r1", "r2"}
    assert reg.rooms == {"b": {"b"}, "r2": {"b"}}
    assert reg.sids == {"b": {"b", "r2"}}
    assert reg.remove_all("a") == set()
    assert reg.remove_all("b") == {"b", "r2"}
    assert reg.rooms == {} and reg.sids == {}


def test_queries_return_copies() -> None:
    reg = RoomRegistry()
    reg.add_all("a", ["r"])
    reg.rooms_of("a").add("x")
    reg.members("r").add("x")
    assert reg.rooms == {"r": {"a"}} and reg.sids == {"a": {"r"}}
    assert reg.rooms_of("ghost") == set() and reg.members("ghost") == set()
    assert len(reg) == 1


def build() -> RoomRegistry:
    reg = RoomRegistry()
    reg.add_all("a", ["a", "red", "blue"])
    reg.add_all("b", ["b", "red"])
    reg.add_all("c", ["c", "blue"])
    reg.add_all("d", ["d"])
    return reg


def test_select_everyone() -> None:
    assert sorted(build().select(())) == ["a", "b", "c", "d"]


def test_select_everyone_except() -> None:
    assert sorted(build().select((), ["red"])) == ["c", "d"]


def test_select_one_room() -> None:
    assert sorted(build().select(["red"])) == ["a", "b"]
    assert sorted(build().select(["red"], ["a"])) == ["b"]


def test_select_overlapping_rooms_yields_each_once() -> None:
    assert sorted(build().select(["red", "blue"])) == ["a", "b", "c"]


def test_select_except_wins_over_rooms() -> None:
    assert sorted(build().select(["red", "blue"], ["blue"])) == ["b"]
    assert sorted(build().select(["red", "blue"], ["red", "blue"])) == []


def test_select_unknown_rooms() -> None:
    reg = build()
    assert list(reg.select(["nope"])) == []
    assert list(reg.select(["nope", "other"])) == []
    assert sorted(reg.select(["red"], ["nope"])) == ["a", "b"]


def test_select_does_not_change_the_registry() -> None:
    reg = build()
    before = ({k: set(v) for k, v in reg.rooms.items()}, {k: set(v) for k, v in reg.sids.items()})
    list(reg.select(["red", "blue"], ["d"]))
    list(reg.select((), ["red"]))
    assert (reg.rooms, reg.sids) == before


SIDS = st.sampled_from([f"s{i}" for i in range(6)])
ROOMS = st.sampled_from([f"r{i}" for i in range(5)])
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("add"), SIDS, st.lists(ROOMS, max_size=4)),
        st.tuples(st.just("remove"), SIDS, ROOMS),
        st.tuples(st.just("remove_all"), SIDS, st.just(None)),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(OPS, st.lists(ROOMS, max_size=3), st.lists(ROOMS, max_size=2))
def test_matches_a_set_of_pairs_model(ops: list, rooms: list[str], except_: list[str]) -> None:
    reg = RoomRegistry()
    model: set[tuple[str, str]] = set()
    for op, sid, arg in ops:
        if op == "add":
            reg.add_all(sid, arg)
            model |= {(sid, room) for room in arg}
        elif op == "remove":
            reg.remove(sid, arg)
            model.discard((sid, arg))
        else:
            left = reg.remove_all(sid)
            assert left == {room for s, room in model if s == sid}
            model = {(s, room) for s, room in model if s != sid}
        consistent(reg)
        assert {(sid, room) for sid, rs in reg.sids.items() for room in rs} == model
    selected = list(reg.select(rooms, except_))
    assert len(selected) == len(set(selected)), "a sid was selected twice"
    excluded = {s for s, room in model if room in except_}
    if rooms:
        expected = {s for s, room in model if room in rooms} - excluded
    else:
        expected = {s for s, _ in model} - excluded
    assert set(selected) == expected
