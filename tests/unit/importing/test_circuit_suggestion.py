"""The circuit an imported spectrum's fit suggests when the config's does not fit it."""

from __future__ import annotations

from acq.analysis.eis_fit import drt_suggestion, fit_spectrum
from acq.analysis.eis_validity import drt
from acq.importing.formats import read_file
from tests.data.instrument_files.generate import HERE
from tests.unit.analysis.synthetic_eis import FREQUENCIES_HZ, arcs_spectrum, inductive_cell, noisy


def _drt(z):
    noisy_z = noisy(z, 0)
    return drt(FREQUENCIES_HZ, noisy_z.real, noisy_z.imag)


def test_a_fit_that_does_not_converge_names_the_circuit_the_drt_suggests():
    # The file's spectrum has three arcs and a Warburg tail; the garnet stations fit two arcs.
    ((frequency_Hz, z_real_ohm, z_imag_ohm),) = read_file(HERE / "eis.z", "full").spectra
    fit = fit_spectrum(frequency_Hz, z_real_ohm, z_imag_ohm, circuit="R0-RQ-RQ")
    assert not fit.converged and len(fit.drt_peak_tau_s) == 3
    assert fit.message.endswith(
        "; the DRT resolves 3 arcs and a diffusion tail: try R0-RQ-RQ-RQ-W"
    )
    suggested = fit_spectrum(frequency_Hz, z_real_ohm, z_imag_ohm, circuit="R0-RQ-RQ-RQ-W")
    assert suggested.converged and "DRT resolves" not in suggested.message


def test_the_suggestion_keeps_the_other_elements_and_adds_a_warburg_only_for_a_tail():
    three_arcs = _drt(arcs_spectrum((1e-6, 1e-4, 1e-1), (100.0, 200.0, 300.0)))
    assert drt_suggestion("R0-RQ", three_arcs) == ("the DRT resolves 3 arcs", "R0-RQ-RQ-RQ")
    assert drt_suggestion("L-R0-RQ-W", three_arcs) == (
        "the DRT resolves 3 arcs",
        "L-R0-RQ-RQ-RQ-W",
    )
    assert drt_suggestion("R0-RQ-RQ-RQ", three_arcs) is None
    with_tail = _drt(inductive_cell()[0])  # two arcs and a Warburg
    assert drt_suggestion("L-R0-RQ", with_tail) == (
        "the DRT resolves 2 arcs and a diffusion tail",
        "L-R0-RQ-RQ-W",
    )
    assert drt_suggestion("L-R0-RQ-RQ-W", with_tail) is None
