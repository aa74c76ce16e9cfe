"""The Kramers–Kronig test and the DRT on spectra of known circuits, against impedance.py."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
import pytest
from impedance.validation import linKK

from acq.analysis.eis_validity import KK_MAX_DRIFT, KK_MAX_RESIDUAL, drt, kk_test
from acq.config import load_config
from acq.services import simulation_parameters
from simulated_devices.physics.impedance import circuit_at
from simulated_devices.physics.microstructure import microstructure_at
from simulated_devices.physics.parameters import CellParameters

from .synthetic_eis import FREQUENCIES_HZ, arcs_spectrum, drifting, inductive_cell, noisy

TWO_ARCS = ((1e-5, 1e-2), (100.0, 300.0))
THREE_ARCS = ((1e-6, 1e-4, 1e-1), (100.0, 200.0, 300.0))


STATIONS = Path(__file__).resolve().parents[3] / "acq" / "config" / "stations"
#: Seeds of the noise per cell in the false-positive and sensitivity tests.
SEEDS = range(50)


def _cells() -> dict[str, np.ndarray]:
    """The simulated cells' true spectra: the default cell at 6, 25 and 100 MPa and both
    garnet pellets at 5 MPa, on `FREQUENCIES_HZ`, Ω."""
    default = CellParameters()
    cells = {
        f"default cell at {p:g} MPa": circuit_at(microstructure_at(p, default), default)
        for p in (6.0, 25.0, 100.0)
    }
    for station in ("garnet_symmetric", "garnet_pristine"):
        params = simulation_parameters(load_config(STATIONS / f"{station}.toml"))
        cells[station] = circuit_at(microstructure_at(5.0, params), params)
    return {name: circuit.impedance(FREQUENCIES_HZ) for name, circuit in cells.items()}


def _spectra() -> dict[str, np.ndarray]:
    return {
        "inductive": inductive_cell()[0],
        "two arcs": arcs_spectrum(*TWO_ARCS),
        "three arcs": arcs_spectrum(*THREE_ARCS),
    }


@pytest.mark.parametrize("name", ["inductive", "two arcs", "three arcs"])
@pytest.mark.parametrize("capacitance", [True, False])
def test_kk_residuals_agree_with_impedance_py(name, capacitance):
    z = noisy(_spectra()[name], 0)
    # impedance.py formats its fit as Python source; numpy 2's scalar repr breaks that.
    with np.printoptions(legacy="1.25"), contextlib.redirect_stdout(io.StringIO()):
        elements, _, _, real, imag = linKK(
            FREQUENCIES_HZ, z, c=0.85, max_M=50, fit_type="complex", add_cap=capacitance
        )
    # linKK stops at the first M where µ ≤ 0.85; ours counts down (module docstring).
    ours = kk_test(FREQUENCIES_HZ, z.real, z.imag, capacitance=capacitance, elements=elements)
    np.testing.assert_allclose(ours.residual_real, real, atol=1e-6)
    np.testing.assert_allclose(ours.residual_imag, imag, atol=1e-6)


@pytest.mark.parametrize("name", ["inductive", "two arcs", "three arcs"])
def test_a_stationary_spectrum_is_kk_valid(name):
    for seed in range(5):
        z = noisy(_spectra()[name], seed)
        test = kk_test(FREQUENCIES_HZ, z.real, z.imag)
        assert test.valid, (seed, test.residual_max)
        assert test.residual_max < 4 * 0.005


def test_mu_is_counted_down_past_its_early_dips():
    # On the bare garnet pellet µ falls below 0.85 at 6 elements and rises again; stopping
    # there, as linKK does, leaves residuals of 24 % on a stationary spectrum.
    z = noisy(_cells()["garnet_pristine"], 0)
    with np.printoptions(legacy="1.25"), contextlib.redirect_stdout(io.StringIO()):
        first, _, _, real, imag = linKK(FREQUENCIES_HZ, z, c=0.85, max_M=50, fit_type="complex")
    assert np.abs(np.r_[real, imag]).max() > 0.2
    test = kk_test(FREQUENCIES_HZ, z.real, z.imag, capacitance=True)
    assert test.elements > first and test.mu <= 0.85
    assert test.valid, test.reason()


@pytest.mark.parametrize("name", list(_cells()))
def test_no_stationary_spectrum_of_the_simulated_cells_is_flagged(name):
    for seed in SEEDS:
        z = noisy(_cells()[name], seed)
        test = kk_test(FREQUENCIES_HZ, z.real, z.imag)
        assert test.valid, (seed, test.reason())
        assert test.noise == pytest.approx(0.005, rel=0.25)


@pytest.mark.parametrize("change", [0.1, -0.1])
@pytest.mark.parametrize("name", [*_cells(), "inductive", "two arcs", "three arcs"])
def test_a_cell_that_drifts_by_10_percent_during_the_sweep_is_flagged(name, change):
    spectrum = {**_cells(), **_spectra()}[name]
    for seed in SEEDS:
        z = noisy(drifting(spectrum, FREQUENCIES_HZ, change), seed)
        test = kk_test(FREQUENCIES_HZ, z.real, z.imag)
        assert not test.valid, (seed, test.drift, test.residual_max)
        assert test.drift > KK_MAX_DRIFT, seed


def test_the_drift_statistic_does_not_depend_on_the_noise_level():
    # The noise is estimated from the residuals: at 2 % noise a stationary cell still passes
    # that statistic (its largest residual, set for the instrument's 0.5 %, need not).
    z0 = _cells()["default cell at 25 MPa"]
    for seed in range(10):
        z = noisy(z0, seed, noise=0.02)
        test = kk_test(FREQUENCIES_HZ, z.real, z.imag)
        assert test.drift <= KK_MAX_DRIFT, seed
        assert test.noise == pytest.approx(0.02, rel=0.25)
    drifting_z = noisy(drifting(z0, FREQUENCIES_HZ, 0.3), 0, noise=0.02)
    assert kk_test(FREQUENCIES_HZ, drifting_z.real, drifting_z.imag).drift > KK_MAX_DRIFT


@pytest.mark.parametrize("name", ["inductive", "two arcs", "three arcs"])
def test_a_cell_that_drifts_by_30_percent_during_the_sweep_is_not(name):
    z = noisy(drifting(_spectra()[name], FREQUENCIES_HZ, 0.3), 0)
    test = kk_test(FREQUENCIES_HZ, z.real, z.imag)
    assert not test.valid
    assert test.residual_max > KK_MAX_RESIDUAL


@pytest.mark.parametrize("arcs", [TWO_ARCS, THREE_ARCS])
def test_the_drt_has_a_peak_at_each_arc(arcs):
    taus, _ = arcs
    for seed in range(3):
        z = noisy(arcs_spectrum(*arcs), seed)
        distribution = drt(FREQUENCIES_HZ, z.real, z.imag)
        assert distribution.peaks == len(taus), (seed, distribution.peak_tau_s)
        np.testing.assert_allclose(np.log10(distribution.peak_tau_s), np.log10(taus), atol=0.3)
        assert np.all(distribution.gamma_ohm >= 0)


def test_the_drt_sees_through_an_inductive_tail_and_a_warburg():
    z, truth = inductive_cell()
    noisy_z = noisy(z, 0)
    distribution = drt(FREQUENCIES_HZ, noisy_z.real, noisy_z.imag)
    assert distribution.peaks == 2
    assert distribution.inductance_H == pytest.approx(truth["L_H"], rel=0.2)


@pytest.mark.parametrize("name", ["inductive", "two arcs", "three arcs"])
def test_an_exact_spectrum_is_valid(name):
    # Without noise σ estimated from the residuals is ≈ 0; the floor keeps the fit's own
    # small misfit from reading as a drift.
    z = _spectra()[name]
    test = kk_test(FREQUENCIES_HZ, z.real, z.imag)
    assert test.noise < 1e-3
    assert test.valid, test.reason()


def test_the_drt_shows_a_warburg_as_a_tail_and_closed_arcs_without_one():
    for z, tail in ((inductive_cell()[0], True), (arcs_spectrum(*TWO_ARCS), False)):
        noisy_z = noisy(z, 0)
        assert drt(FREQUENCIES_HZ, noisy_z.real, noisy_z.imag).tail is tail
