"""The Kramers–Kronig test and the DRT on spectra of known circuits, against impedance.py."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
from impedance.validation import linKK

from acq.analysis.eis_validity import KK_MAX_RESIDUAL, drt, kk_test

from .synthetic_eis import FREQUENCIES_HZ, arcs_spectrum, drifting, inductive_cell, noisy

TWO_ARCS = ((1e-5, 1e-2), (100.0, 300.0))
THREE_ARCS = ((1e-6, 1e-4, 1e-1), (100.0, 200.0, 300.0))


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
    ours = kk_test(FREQUENCIES_HZ, z.real, z.imag, capacitance=capacitance)
    # impedance.py formats its fit as Python source; numpy 2's scalar repr breaks that.
    with np.printoptions(legacy="1.25"), contextlib.redirect_stdout(io.StringIO()):
        elements, _, _, real, imag = linKK(
            FREQUENCIES_HZ, z, c=0.85, max_M=50, fit_type="complex", add_cap=capacitance
        )
    assert ours.elements == elements
    np.testing.assert_allclose(ours.residual_real, real, atol=1e-6)
    np.testing.assert_allclose(ours.residual_imag, imag, atol=1e-6)


@pytest.mark.parametrize("name", ["inductive", "two arcs", "three arcs"])
def test_a_stationary_spectrum_is_kk_valid(name):
    for seed in range(5):
        z = noisy(_spectra()[name], seed)
        test = kk_test(FREQUENCIES_HZ, z.real, z.imag)
        assert test.valid, (seed, test.residual_max)
        assert test.residual_max < 4 * 0.005


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
