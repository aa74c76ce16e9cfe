"""Settings of the session's pressure series (`conftest.pressure_series_run`), for its tests."""

PRESSURES_MPA = [6.0, 50.0]
PROJECTIONS, DARKS, FLATS = 91, 2, 3
#: EIS points: 1 MHz to 0.1 Hz at 4 points per decade.
POINTS_PER_DECADE = 4
EIS_POINTS = 7 * POINTS_PER_DECADE + 1
