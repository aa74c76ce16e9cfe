"""An imported file's documents are a run the analysis and replay read as a station's own:
the streams and data keys of `eis_sweep` and `galvanostatic_cycles`, and the `eis_sweep`
that measures a spectrum on its grid."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from event_model import DocumentRouter, unpack_event_page

from acq.analysis.cycling import HalfCycle
from acq.cli import main
from acq.importing.documents import equivalent_sweep, run_documents
from acq.importing.formats import read_file
from conventions import data_keys
from tests.data.instrument_files.generate import HERE, SWEEPS
from tests.stations import small_station_config, write_toml

pytestmark = pytest.mark.unit


class Collected(DocumentRouter):
    """Each stream's events' data, by stream name."""

    def __init__(self) -> None:
        super().__init__()
        self.names: dict[str, str] = {}
        self.events: dict[str, list[dict]] = {}
        self.stop_doc: dict | None = None

    def descriptor(self, doc):
        self.names[doc["uid"]] = doc["name"]

    def event(self, doc):
        self.events.setdefault(self.names[doc["descriptor"]], []).append(doc["data"])

    def event_page(self, doc):
        for event in unpack_event_page(doc):
            self.event(event)

    def stop(self, doc):
        self.stop_doc = doc


def _collected(name: str) -> tuple[Collected, object]:
    measurement = read_file(HERE / name, "full")
    collected = Collected()
    for kind, doc in run_documents(measurement, {"source_file": name, "plan_name": "import"}):
        collected(kind, doc)
    return collected, measurement


def test_a_spectrum_is_one_primary_event_with_the_eis_sweeps_keys():
    collected, measurement = _collected("eis.z")
    (data,) = collected.events[data_keys.PRIMARY]
    n = data[data_keys.SPECTRUM_POINTS]
    f, zr, zi = measurement.spectra[0]
    assert n == f.size
    np.testing.assert_array_equal(data[data_keys.SPECTRUM_FREQUENCY][:n], f)
    np.testing.assert_array_equal(data[data_keys.SPECTRUM_Z_REAL][:n], zr)
    np.testing.assert_array_equal(data[data_keys.SPECTRUM_Z_IMAG][:n], zi)
    assert collected.stop_doc["exit_status"] == "success"


def test_half_cycles_are_half_cycle_events_the_analysis_reads_back_and_a_trace():
    collected, measurement = _collected("gcpl.mpt")
    events = collected.events[data_keys.HALF_CYCLE]
    lengths = {len(event[data_keys.HALF_CYCLE_TIME]) for event in events}
    assert lengths == {max(h.time_s.size for h in measurement.half_cycles)}  # NaN-padded
    for event, half in zip(events, measurement.half_cycles, strict=True):
        read = HalfCycle.from_event_data(event)
        assert (read.cycle_index, read.step, read.capacity_mAh) == (
            half.cycle_index,
            half.step,
            half.capacity_mAh,
        )
        np.testing.assert_array_equal(read.voltage_V, half.voltage_V)
        np.testing.assert_array_equal(read.current_A, half.current_A)
    trace = collected.events[data_keys.TRACE]
    assert len(trace) == sum(h.time_s.size for h in measurement.half_cycles)
    ends = [e[data_keys.LIVE_CHARGE] for e in trace if e[data_keys.LIVE_TIME] == 3600.0]
    assert ends == [pytest.approx(0.0714), pytest.approx(0.0714)]  # each charge's end


@pytest.mark.parametrize("name", list(SWEEPS))
def test_a_spectrum_on_a_sweeps_grid_names_that_sweep(name):
    start_Hz, stop_Hz, points_per_decade = SWEEPS[name]
    sweep = equivalent_sweep(read_file(HERE / name, "full"))
    assert sweep is not None
    assert (sweep.start_frequency_Hz, sweep.stop_frequency_Hz) == (start_Hz, stop_Hz)
    assert (sweep.points_per_decade, sweep.amplitude_V) == (points_per_decade, 0.01)


def test_a_spectrum_off_every_sweeps_grid_or_half_cycles_name_none():
    measurement = read_file(HERE / "eis.DTA", "full")
    f, zr, zi = measurement.spectra[0]
    shifted = replace(measurement, spectra=[(f * (1 + 1e-3 * np.arange(f.size)), zr, zi)])
    assert equivalent_sweep(shifted) is None
    gap = np.arange(f.size) != 10  # a point left out
    assert equivalent_sweep(replace(measurement, spectra=[(f[gap], zr[gap], zi[gap])])) is None
    assert equivalent_sweep(read_file(HERE / "gcpl.mpt", "full")) is None


def test_acq_import_of_a_bad_file_says_so_in_one_line_and_exits_2(tmp_path, capsys):
    """Before anything is written: the config's Tiled is never reached (none serves it)."""
    config = write_toml(small_station_config(tmp_path / "data"), tmp_path / "station.toml")
    (tmp_path / "cell.mpt").write_text("EC-Lab ASCII FILE\nNb header lines : 99\n")
    argv = ["import", str(HERE / "eis.z"), str(tmp_path / "cell.mpt"), "--config", str(config)]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        f"acq: {tmp_path / 'cell.mpt'}: not an EC-Lab text export (no 'EC-Lab ASCII FILE' "
        "header)\n"
    )
    assert main([*argv[:2], "--cell", "diameter_mm=-1", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("acq: station config (with acq import --cell) is invalid:")
    assert "cell.diameter_mm: Input should be greater than 0" in err and "Traceback" not in err
