"""The answered-event path in Python calls (bench/ack_calls.py): deterministic, no timing."""

from __future__ import annotations

from bench.ack_calls import measure

FRAMES = 20


async def test_an_answered_event_takes_the_short_path() -> None:
    calls = await measure(FRAMES)
    per_event = {name: n / FRAMES for name, n in calls.python.items() if n >= FRAMES}
    # each of these once per frame: no Engine.IO packet object, no isawaitable's ABC check,
    # no write-buffer size query, no websockets frame parser or serializer
    for absent in (
        "engineio.py:decode_packet",
        "inspect.py:isawaitable",
        "websocket.py:WebSocketTransport.write_buffer_size",
        "frames.py:Frame.parse",
        "frames.py:Frame.serialize",
    ):
        assert absent not in per_event, per_event
    assert per_event["jsoncodec.py:loads"] == 1  # one JSON decode, one encode
    assert per_event["jsoncodec.py:dumps_hooked"] == 1
    assert sum(calls.python.values()) / FRAMES <= 28, per_event
