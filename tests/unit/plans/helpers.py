"""Reading a simulated plan's messages."""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

from bluesky.simulators import RunEngineSimulator
from bluesky.utils import Msg


def commands(messages: list[Msg], command: str, obj_name: str | None = None) -> list[Msg]:
    """The messages of ``command`` (on the object named ``obj_name``)."""
    return [
        m
        for m in messages
        if m.command == command
        and (obj_name is None or (m.obj is not None and m.obj.name == obj_name))
    ]


def start_of(messages: list[Msg]) -> dict[str, Any]:
    """The metadata of the first ``open_run``."""
    return commands(messages, "open_run")[0].kwargs


def run_until(
    sim: RunEngineSimulator,
    plan: Generator[Msg, Any, Any],
    stop_at: Callable[[Msg], bool],
    exception: Exception,
) -> list[Msg]:
    """Drive ``plan`` as ``sim`` does, and throw ``exception`` into it at the first message
    ``stop_at`` matches; every message, those it yields after included."""

    def answer(message: Msg) -> Any:
        handler = next((h for h in sim.message_handlers if h.predicate(message)), None)
        return None if handler is None else handler.runnable(message)

    messages: list[Msg] = []
    send = None
    try:
        while True:
            message = plan.send(send)
            messages.append(message)
            send = answer(message)
            if stop_at(message):
                message = plan.throw(exception)
                messages.append(message)
                send = answer(message)
                break
        while True:
            messages.append(plan.send(send))
            send = answer(messages[-1])
    except (StopIteration, type(exception)):
        pass
    return messages


def event_readers(messages: list[Msg], stream: str) -> list[set[str]]:
    """For each event of ``stream``: the names of what it read."""
    events: list[set[str]] = []
    current: set[str] | None = None
    for message in messages:
        if message.command == "create":
            current = set() if message.kwargs["name"] == stream else None
        elif message.command == "read" and current is not None:
            current.add(message.obj.name)
        elif message.command == "save" and current is not None:
            events.append(current)
            current = None
    return events


def streams(messages: list[Msg]) -> set[str]:
    """The streams the messages make events in."""
    return {message.kwargs["name"] for message in commands(messages, "create")}
