"""Each shipped cell config through ``acq serve`` + ``acq run`` of its natural plans: the live
analysis reports, in Tiled, what the simulator was configured with.

- the sulfide composites (the default cell at a low and a high stack pressure, the
  fine-particle one at the high, where its arcs overlap most): R_ct and the electrolyte's
  resistance within 5 %, so the apparent σ (the separator dense, with no CT) too;
- garnet symmetric pellet: σ and the per-interface ASR within 5 %; the CCD staircase fails
  by a short at its first step above the configured CCD;
- pristine garnet (no interlayer): the per-interface ASR of bare Li | LLZO within 5 %; its
  staircase from a low start is blocked, with a tight cut-off, at the first step whose
  ohmic polarisation exceeds it, and shorts, with the default cut-off, at its first step
  above the configured (low) CCD;
- limited-lithium LFP (at N/P 1.1): the capacity knee within 5 % of the cycle the anode's
  inventory runs out (run on the same physics), end of life where the plan stopped, the
  polarisation (from the charge/discharge hysteresis) the model's and no contact loss; with
  contact loss configured, its growth within 10 % and the failure ``contact_loss``.

Each station runs from its shipped file, with only its data directory, PV prefix, ports and
CT volume made the test's own (and the LFP cell's N/P lowered, to cycle less; its contact loss
set for the second LFP station).
"""

from __future__ import annotations

import math
import secrets

import numpy as np
import pytest

from acq.analysis.results import analysis_summary
from acq.config import STATIONS_DIR, StationConfig, load_config, parse_config
from acq.services import simulation_parameters
from acq.services.ports import free_tcp_port
from conventions.cell_geometry import layer_thickness_um
from simulated_devices.cell import SimulatedCell
from simulated_devices.physics.clock import SimClock
from simulated_devices.physics.electrochemistry import HalfCycle, HalfCycleLimits
from simulated_devices.physics.impedance import circuit_at, interface_resistance_ohm
from simulated_devices.physics.microstructure import microstructure_at
from tests.stations import TEST_IMAGING
from tests.system.served_station import RUN_TIMEOUT_S, ServedStation, own_ports, serve, stop

pytestmark = pytest.mark.slow


def shipped_station(name: str, directory, **parameters: dict) -> StationConfig:
    """The shipped config ``name`` with the test's data directory, prefix, ports, CT size
    (and these simulation parameter groups updated)."""
    raw = load_config(STATIONS_DIR / f"{name}.toml").model_dump(mode="json")
    for group, values in parameters.items():
        raw["simulation"]["parameters"].setdefault(group, {}).update(values)
    raw["station"]["data_dir"] = str(directory)
    raw["station"]["prefix"] = f"T{secrets.token_hex(3)}:"
    raw["queue"]["redis_port"] = free_tcp_port()
    for section, values in own_ports().items():
        raw[section].update(values)
    raw["simulation"]["parameters"]["imaging"] = dict(TEST_IMAGING)
    return parse_config(raw)


def serving(tmp_path_factory, folder: str, name: str, **parameters: dict):
    """The shipped config ``name`` (`shipped_station`) served from a ``folder`` of its own
    until the fixture that yields from this ends."""
    directory = tmp_path_factory.mktemp(folder)
    served = serve(shipped_station(name, directory, **parameters), directory)
    yield served
    stop(served)


@pytest.fixture(scope="module")
def sulfide(request, tmp_path_factory):
    yield from serving(tmp_path_factory, request.param, request.param)


@pytest.fixture(scope="module")
def garnet(tmp_path_factory):
    yield from serving(tmp_path_factory, "garnet", "garnet_symmetric")


@pytest.fixture(scope="module")
def garnet_pristine(tmp_path_factory):
    yield from serving(tmp_path_factory, "garnet_pristine", "garnet_pristine")


@pytest.fixture(scope="module")
def lfp(tmp_path_factory):
    # N/P 1.1, the paper's lowest: the knee within some 30 cycles, not 70.
    yield from serving(
        tmp_path_factory, "lfp", "lfp_limited_lithium", electrochemistry={"n_to_p_ratio": 1.1}
    )


#: Contact loss of the second LFP station's cathode interface, per hour under current.
LFP_CONTACT_LOSS_PER_H = 0.01


@pytest.fixture(scope="module")
def lfp_losing_contact(tmp_path_factory):
    yield from serving(
        tmp_path_factory,
        "lfp_losing_contact",
        "lfp_limited_lithium",
        interface={"contact_loss_per_h": LFP_CONTACT_LOSS_PER_H},
    )


def run_plan(
    served: ServedStation, plan: str, timeout_s: float = RUN_TIMEOUT_S, **params: object
) -> tuple[str, list[str]]:
    """``acq run PLAN --param …``: the run's uid and the lines it printed after it."""
    args = [plan]
    for key, value in params.items():
        args += ["--param", f"{key}={value}"]
    done = served.run(*args, timeout_s=timeout_s)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith(f"{plan}: run"))
    return lines[at].split("run(s) ")[-1].split()[0], lines[at + 1 :]


def summary_of(served: ServedStation, uid: str) -> dict:
    return analysis_summary(served.client()["analysis"], uid, RUN_TIMEOUT_S)


@pytest.mark.parametrize(
    "sulfide, pressure_MPa",
    [("default", 6.0), ("default", 50.0), ("fine_particle", 50.0)],
    indirect=["sulfide"],
)
def test_sulfide_R_ct_and_apparent_sigma_are_the_simulators(sulfide, pressure_MPa):
    run_plan(sulfide, "pressure_step", pressure_MPa=pressure_MPa)
    uid, printed = run_plan(sulfide, "eis_sweep")  # its default 10 points per decade
    summary = summary_of(sulfide, uid)
    assert f"  R_ct_ohm = {summary['R_ct_ohm']}" in printed, printed
    params = simulation_parameters(sulfide.config)
    truth = circuit_at(microstructure_at(pressure_MPa, params), params)
    electrolyte_ohm = truth.R0_ohm + truth.R_b_ohm + truth.R_gb_ohm
    assert summary["R_ct_ohm"] == pytest.approx(truth.R_ct_ohm, rel=0.05)
    assert summary["electrolyte_resistance_ohm"] == pytest.approx(electrolyte_ohm, rel=0.05)
    geometry = params.geometry
    dense_cm = 1e-4 * layer_thickness_um(
        geometry.electrolyte_mass_mg,
        geometry.electrolyte_solid_density_g_cm3,
        0.0,
        geometry.area_cm2,
    )
    sigma = dense_cm / (electrolyte_ohm * geometry.area_cm2)
    assert summary["conductivity_S_per_cm"] == pytest.approx(sigma, rel=0.05)
    assert summary["conductivity_uncertainty_S_per_cm"] < 0.05 * sigma


def test_garnet_sigma_and_interface_asr_are_the_configured_ones(garnet):
    pressure_MPa = 5.0
    run_plan(garnet, "pressure_step", pressure_MPa=pressure_MPa)
    uid, printed = run_plan(garnet, "eis_sweep", points_per_decade=6)
    summary = summary_of(garnet, uid)
    # acq run printed the analysis summary it waited for.
    assert f"analysis of {uid[:8]}:" in printed, printed
    assert f"  conductivity_S_per_cm = {summary['conductivity_S_per_cm']}" in printed
    params = simulation_parameters(garnet.config)
    micro = microstructure_at(pressure_MPa, params)
    truth = circuit_at(micro, params)
    area = params.geometry.area_cm2
    sigma = 1e-4 * micro.electrolyte_thickness_um / (truth.R_b_ohm * area)
    assert summary["conductivity_S_per_cm"] == pytest.approx(sigma, rel=0.05)
    assert summary["conductivity_uncertainty_S_per_cm"] < 0.05 * sigma
    per_interface = interface_resistance_ohm(pressure_MPa, params, 298.15) * area / 2
    assert per_interface == pytest.approx(57.0)  # the config's, at its reference pressure
    assert summary["R_ct_asr_per_interface_ohm_cm2"] == pytest.approx(per_interface, rel=0.05)


def test_garnet_ccd_staircase_shorts_at_the_first_step_above_the_configured_ccd(garnet):
    ccd = simulation_parameters(garnet.config).interface.critical_current_density_mA_cm2
    step = 0.2
    uid, printed = run_plan(garnet, "critical_current_density", step_mA_cm2=step, max_mA_cm2=3.0)
    assert "  failure = short_circuit" in printed, printed
    summary = summary_of(garnet, uid)
    assert summary["failure"] == "short_circuit"
    assert ccd < summary["critical_current_density_mA_cm2"] <= ccd + step + 1e-9
    assert summary["last_passed_mA_cm2"] == pytest.approx(
        summary["critical_current_density_mA_cm2"] - step
    )


def test_garnet_refuses_a_plan_for_a_full_cell(garnet):
    done = garnet.run("lithium_inventory_cycling")
    assert done.returncode == 2
    assert "needs a full cell, and this station's is symmetric" in done.stderr
    assert "Traceback" not in done.stderr


def test_pristine_garnet_interface_asr_is_bare_li_llzos(garnet_pristine):
    pressure_MPa = 5.0
    run_plan(garnet_pristine, "pressure_step", pressure_MPa=pressure_MPa)
    uid, _ = run_plan(garnet_pristine, "eis_sweep", points_per_decade=6)
    summary = summary_of(garnet_pristine, uid)
    params = simulation_parameters(garnet_pristine.config)
    area = params.geometry.area_cm2
    per_interface = interface_resistance_ohm(pressure_MPa, params, 298.15) * area / 2
    assert per_interface == pytest.approx(1525.0)  # the config's, at its reference pressure
    assert summary["R_ct_asr_per_interface_ohm_cm2"] == pytest.approx(per_interface, rel=0.05)


def test_pristine_garnet_is_blocked_at_a_tight_cut_off_and_shorts_above_its_ccd(
    garnet_pristine,
):
    """Blocked first (at 0.2 mA/cm², not above the CCD: no dendrite); the same cell, with the
    plan's default 5 V cut-off, then shorts (a short would persist, so not the other way)."""
    pressure_MPa, cutoff_V, step = 5.0, 0.5, 0.05
    staircase = {"start_mA_cm2": step, "step_mA_cm2": step, "max_mA_cm2": 1.0}
    run_plan(garnet_pristine, "pressure_step", pressure_MPa=pressure_MPa)
    uid, printed = run_plan(
        garnet_pristine, "critical_current_density", cutoff_V=cutoff_V, **staircase
    )
    assert "  failure = blocked" in printed, printed
    params = simulation_parameters(garnet_pristine.config)
    truth = circuit_at(microstructure_at(pressure_MPa, params), params)
    asr_ohm_cm2 = (truth.R0_ohm + truth.R_b_ohm + truth.R_ct_ohm) * params.geometry.area_cm2
    densities = step * np.arange(1, 21)
    blocked = densities[1e-3 * densities * asr_ohm_cm2 > cutoff_V][0]
    summary = summary_of(garnet_pristine, uid)
    assert summary["failure"] == "blocked"
    assert summary["critical_current_density_mA_cm2"] == pytest.approx(blocked)
    assert summary["last_passed_mA_cm2"] == pytest.approx(blocked - step)

    ccd = params.interface.critical_current_density_mA_cm2
    uid, _ = run_plan(garnet_pristine, "critical_current_density", **staircase)
    summary = summary_of(garnet_pristine, uid)
    assert summary["failure"] == "short_circuit"
    assert ccd < summary["critical_current_density_mA_cm2"] <= ccd + step + 1e-9


def model_knee_cycle(config: StationConfig, pressure_MPa: float, c_rate: float) -> int:
    """The first cycle whose discharge the anode cannot supply in full (its lithium, after the
    charge, less than the charge the cathode took), on the station's physics cycled as
    `lithium_inventory_cycling` cycles it (2.5–4.0 V)."""
    params = simulation_parameters(config)
    cell = SimulatedCell(params, SimClock(1.0))
    cell.set_pressure(pressure_MPa)
    chem = cell.electrochemistry
    current = c_rate * chem.nominal_capacity_mAh * 1e-3
    for cycle in range(1000):
        for sign in (1, -1):
            limits = HalfCycleLimits(sign * current, 4.0, 2.5, 3 * 3600 / c_rate, math.inf, 60.0)
            HalfCycle(chem, limits, 4096).advance(limits.max_duration_s)
            if sign > 0 and chem.anode_lithium_mAh < chem.charge_mAh:
                return cycle
    raise AssertionError("the model's inventory never ran out")


def model_asr(config: StationConfig, pressure_MPa: float) -> tuple[float, float]:
    """A full cell's area-specific polarisation on the station's physics (the electrolyte,
    leads and the cathode interface in series), Ω·cm², and the interface's share of it."""
    cell = SimulatedCell(simulation_parameters(config), SimClock(1.0))
    cell.set_pressure(pressure_MPa)
    chem = cell.electrochemistry
    resistance_ohm = chem.series_resistance_ohm + chem.charge_transfer_resistance_ohm
    share = chem.charge_transfer_resistance_ohm / resistance_ohm
    return resistance_ohm * cell.params.geometry.area_cm2, share


@pytest.mark.timeout(900)
def test_lfp_knee_and_end_of_life_are_the_models(lfp):
    pressure_MPa, c_rate = 50.0, 0.2
    run_plan(lfp, "pressure_step", pressure_MPa=pressure_MPa)
    uid, printed = run_plan(
        lfp,
        "lithium_inventory_cycling",
        timeout_s=600.0,  # some 35 cycles to the end of life
        c_rate=c_rate,
        upper_cutoff_V=4.0,  # LFP vs Li: 2.5–4.0 V
        max_cycles=100,
        record_interval_s=300,
        poll_interval_s=0.05,
    )
    summary = summary_of(lfp, uid)
    truth = model_knee_cycle(lfp.config, pressure_MPa, c_rate)
    assert abs(summary["capacity_knee_cycle"] - truth) <= max(1, 0.05 * truth), (summary, truth)
    end = next(line for line in printed if line.startswith("  end_of_life_cycle = "))
    assert summary["end_of_life_cycle"] == int(end.split("= ")[1])
    assert summary["end_of_life_cycle"] > summary["capacity_knee_cycle"]
    assert np.isfinite(summary["final_retention"]) and summary["final_retention"] < 0.8
    # No contact loss configured: the hysteresis ASR is the model's, flat to the end of life.
    assert summary["failure"] == "none"
    asr_ohm_cm2, _ = model_asr(lfp.config, pressure_MPa)
    assert summary["polarisation_asr_ohm_cm2"] == pytest.approx(asr_ohm_cm2, rel=0.02)
    assert abs(summary["polarisation_rise"]) < 0.02


def test_lfp_contact_loss_is_the_models(lfp_losing_contact):
    """The cathode interface loses 1 %/h of contact: over 10 cycles at C/5 the hysteresis
    ASR grows by 1 %/h × the interface's share of the cell's ASR, and the summary, and what
    ``acq run`` printed of it, say contact loss."""
    pressure_MPa = 50.0
    run_plan(lfp_losing_contact, "pressure_step", pressure_MPa=pressure_MPa)
    uid, printed = run_plan(
        lfp_losing_contact,
        "galvanostatic_cycles",
        cycles=10,
        c_rate=0.2,
        upper_cutoff_V=4.0,
        record_interval_s=300,
        poll_interval_s=0.05,
    )
    summary = summary_of(lfp_losing_contact, uid)
    asr_ohm_cm2, interface_share = model_asr(lfp_losing_contact.config, pressure_MPa)
    assert summary["failure"] == "contact_loss"
    assert "  failure = contact_loss" in printed
    assert summary["polarisation_asr_ohm_cm2"] == pytest.approx(asr_ohm_cm2, rel=0.02)
    assert summary["polarisation_growth_per_h"] == pytest.approx(
        LFP_CONTACT_LOSS_PER_H * interface_share, rel=0.1
    )
