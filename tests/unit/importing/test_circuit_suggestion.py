"""The circuit an imported spectrum's fit suggests when the config's does not fit it."""

from __future__ import annotations

from acq.analysis.eis_fit import circuit_with_arcs, fit_spectrum
from acq.importing.formats import read_file
from tests.data.instrument_files.generate import HERE


def test_a_fit_that_does_not_converge_names_the_circuit_with_the_drts_arcs():
    # The file's spectrum has three arcs and a Warburg tail; the garnet stations fit two.
    ((frequency_Hz, z_real_ohm, z_imag_ohm),) = read_file(HERE / "eis.z", "full").spectra
    fit = fit_spectrum(frequency_Hz, z_real_ohm, z_imag_ohm, circuit="R0-RQ-RQ")
    assert not fit.converged and len(fit.drt_peak_tau_s) == 3
    assert fit.message.endswith("; the DRT resolves 3 arcs: try R0-RQ-RQ-RQ")
    suggested = fit_spectrum(frequency_Hz, z_real_ohm, z_imag_ohm, circuit="R0-RQ-RQ-RQ")
    assert suggested.converged and "DRT resolves" not in suggested.message


def test_the_suggested_circuit_keeps_the_other_elements_and_one_to_three_arcs():
    assert circuit_with_arcs("L-R0-RQ-W", 3) == "L-R0-RQ-RQ-RQ-W"
    assert circuit_with_arcs("R0-RQ-RQ", 5) == "R0-RQ-RQ-RQ"
    assert circuit_with_arcs("R0-RQ-RQ-RQ-W", 0) == "R0-RQ-W"
