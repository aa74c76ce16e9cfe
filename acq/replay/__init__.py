"""Replay of a recorded run: its analysis again (`analysis`), or its plan again against
simulated devices that play its readings back (`plan`, run in a process of its own by
`rehearsal`)."""
