"""`acq.importing`'s readers on the hand-written instrument files of
``tests/data/instrument_files`` (README there): what each file holds comes back, in the
station's units and signs, and bad files are refused naming the file."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from acq.importing import ImportFileError
from acq.importing.formats import read_file
from tests.data.instrument_files.generate import (
    GCPL_CURRENT_MA,
    GCPL_HOURS,
    HERE,
    spectrum,
)

pytestmark = pytest.mark.unit

SPECTRA = {
    "peis.mpt": "BioLogic EC-Lab",
    "eis.DTA": "Gamry",
    "eis.z": "Scribner ZPlot",
}


@pytest.mark.parametrize("name", list(SPECTRA))
def test_each_spectrum_is_the_files_in_hz_and_ohm_with_z_imag_as_im_z(name):
    measurement = read_file(HERE / name, "full")
    assert (measurement.instrument, measurement.technique) == (SPECTRA[name], "PEIS")
    assert measurement.measured_at == "2024-03-14T10:15:32"
    assert measurement.amplitude_V == pytest.approx(0.01)
    ((frequency_Hz, z_real_ohm, z_imag_ohm),) = measurement.spectra
    f, z = spectrum(name)
    np.testing.assert_allclose(frequency_Hz, f, rtol=1e-6)
    np.testing.assert_allclose(z_real_ohm, z.real, rtol=1e-6)
    np.testing.assert_allclose(z_imag_ohm, z.imag, rtol=1e-6)  # BioLogic's −Im(Z) turned
    assert measurement.half_cycles == []


def test_the_headers_settings_are_kept_as_the_vendor_names_them():
    assert read_file(HERE / "peis.mpt", "full").metadata["Device"] == "VSP-300 (SN 1234)"
    assert read_file(HERE / "eis.DTA", "full").metadata["PTSPERDEC"] == "1.00000E+001"
    assert read_file(HERE / "eis.z", "full").metadata["Instrument"] == "Solartron 1260"


def test_gcpl_half_cycles_have_the_files_currents_steps_and_capacities():
    measurement = read_file(HERE / "gcpl.mpt", "full")
    assert measurement.technique == "GCPL" and measurement.spectra == []
    halves = measurement.half_cycles
    assert [(h.cycle_index, h.step) for h in halves] == [
        (0, "charge"),
        (0, "discharge"),
        (1, "charge"),
        (1, "discharge"),
    ]
    for half in halves:
        hours = GCPL_HOURS[half.step]
        assert half.capacity_mAh == pytest.approx(GCPL_CURRENT_MA * hours, rel=1e-9)
        assert half.time_s[0] == 0 and half.time_s[-1] == pytest.approx(hours * 3600)
        sign = 1 if half.step == "charge" else -1
        np.testing.assert_allclose(half.current_A, sign * GCPL_CURRENT_MA * 1e-3)


def test_a_symmetric_cells_half_cycles_are_plating_and_stripping():
    halves = read_file(HERE / "gcpl.mpt", "symmetric").half_cycles
    assert [h.step for h in halves[:2]] == ["plating", "stripping"]


def _copy(tmp_path: Path, name: str, edit) -> Path:
    path = tmp_path / name
    path.write_bytes(edit((HERE / name).read_bytes().decode("latin-1")).encode("latin-1"))
    return path


def _nan_in_second_row(text: str) -> str:
    lines = text.splitlines(keepends=True)
    header = int(lines[1].split(":")[1])
    fields = lines[header + 1].split("\t")
    fields[4] = "NaN"  # Ewe/V
    lines[header + 1] = "\t".join(fields)
    return "".join(lines)


@pytest.mark.parametrize(
    ("name", "edit", "says"),
    [
        ("gcpl.mpt", _nan_in_second_row, "column 'Ewe/V' is nan in data row 2"),
        ("gcpl.mpt", lambda t: t.replace("half cycle", "half"), "no column half cycle"),
        ("peis.mpt", lambda t: t.replace("Potentio Electrochemical", "Chrono"), "technique"),
        ("peis.mpt", lambda t: t.replace("-Im(Z)/Ohm", "Im"), "cannot be read as biologic"),
        ("peis.mpt", lambda t: t[:3000], "data row 18 has 7 fields, not 9 (file cut short?)"),
        ("eis.DTA", lambda t: t[:3000], "data row 25 has 7 fields, not 12"),
        ("eis.z", lambda t: t[:3000], "fields, not 9"),
        ("peis.mpt", lambda t: t.replace("EC-Lab ASCII", "EC-Lab"), "not an EC-Lab text export"),
        ("eis.DTA", lambda t: t.replace("ZCURVE", "OCVCURVE"), "no ZCURVE table"),
        ("eis.DTA", lambda t: t.replace("EISPOT", "CV"), "experiment 'CV' is not imported"),
        ("eis.DTA", lambda t: t.replace("2.926756E+01", "nan"), "Z′' is nan in data row 1"),
        ("eis.z", lambda t: t.replace("End Comments", ""), "not a ZPlot file"),
        ("eis.z", lambda t: t.replace("Ampl: 0.01", "Ampl: nan"), "value Ampl is 'nan'"),
        ("eis.DTA", lambda t: t.replace("1.00000E+001\tAC", "ten\tAC"), "VACAMPL is 'ten'"),
        ("eis.z", lambda t: t.replace("2.926605E+01", "x"), "cannot be read as zplot"),
    ],
)
def test_a_garbled_file_is_refused_naming_it_and_what_is_wrong(tmp_path, name, edit, says):
    path = _copy(tmp_path, name, edit)
    with pytest.raises(ImportFileError, match="^" + re.escape(str(path))) as error:
        read_file(path, "full")
    assert says in str(error.value)


def test_a_missing_file_or_an_unknown_format_is_refused(tmp_path):
    with pytest.raises(ImportFileError, match="no such file"):
        read_file(tmp_path / "gone.mpt", "full")
    (tmp_path / "cell.csv").write_text("f,z\n")
    with pytest.raises(
        ImportFileError, match=re.escape("unknown format '.csv'; acq import reads Bio")
    ):
        read_file(tmp_path / "cell.csv", "full")
