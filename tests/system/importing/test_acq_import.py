"""``acq import`` of the hand-written files of three instrument formats into the session's
real Tiled (`tests/data/instrument_files`): each lands in ``raw`` as a run of the station's
streams with the file in its start document, the analysis run of each reports the file's
truth, and ``acq replay --plan`` of an imported spectrum runs `eis_sweep` against it on
playback IOCs."""

from __future__ import annotations

import hashlib
import io
import re
from contextlib import redirect_stderr, redirect_stdout

import numpy as np
import pytest

from acq.analysis.raw_run import spectra
from acq.analysis.results import summary_row
from acq.cli import main
from acq.config import parse_config
from tests.data.instrument_files.generate import GCPL_CURRENT_MA, GCPL_HOURS, HERE, R_CT_OHM
from tests.stations import write_toml

FILES = ("peis.mpt", "gcpl.mpt", "eis.DTA", "eis.z")


@pytest.fixture(scope="module")
def config_file(station_config, tiled_server, tmp_path_factory):
    raw = station_config.model_dump(mode="json")
    raw["tiled"].update(uri=tiled_server.uri, api_key=tiled_server.api_key)
    return write_toml(parse_config(raw), tmp_path_factory.mktemp("import") / "station.toml")


@pytest.fixture(scope="module")
def imported(config_file, tiled_client):
    """File name -> (raw run, analysis run, what acq import printed about it)."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        status = main(
            ["import", *(str(HERE / name) for name in FILES), "--config", str(config_file)]
        )
    assert status == 0, err.getvalue()[-3000:]
    out = out.getvalue()
    found = {}
    for block in re.split(r"\n(?=imported )", out.strip()):
        name, uid, analysis_uid = re.match(
            r"imported (\S+) .*: run (\S+) in .* analysis run (\S+)", block
        ).groups()
        found[name] = (
            tiled_client["raw"][uid],
            tiled_client["analysis"][analysis_uid],
            block,
        )
    assert set(found) == set(FILES)
    return found


def test_each_file_is_a_raw_run_with_the_file_and_its_instrument_in_the_start(imported):
    for name, (run, _, _) in imported.items():
        start = run.metadata["start"]
        assert start["plan_name"] == "import" and start["source_file"] == name
        assert start["source_sha256"] == hashlib.sha256((HERE / name).read_bytes()).hexdigest()
        assert start["start_datetime"] == "2024-03-14T10:15:32"
        assert start["cell"]["cell_type"] == "full" and start["sample"]
        assert run.metadata["stop"]["exit_status"] == "success"
    assert imported["eis.DTA"][0].metadata["start"]["instrument"] == "Gamry"
    assert ["vs.", "Eoc"] in imported["peis.mpt"][0].metadata["start"]["instrument_header"]
    assert imported["gcpl.mpt"][0].metadata["start"]["technique"] == {"name": "GCPL"}
    assert set(imported["gcpl.mpt"][0]) >= {"trace", "half_cycle"}


@pytest.mark.parametrize("name", list(R_CT_OHM))
def test_the_analysis_recovers_each_spectrums_r_ct(imported, name):
    _, analysis, printed = imported[name]
    summary = summary_row(analysis)
    assert summary["R_ct_ohm"] == pytest.approx(R_CT_OHM[name], rel=0.01)
    assert f"R_ct_ohm = {summary['R_ct_ohm']}" in printed
    assert analysis.metadata["start"]["raw_uid"] == imported[name][0].metadata["start"]["uid"]


def test_the_analysis_recovers_the_cycling_files_capacity_and_efficiency(imported):
    summary = summary_row(imported["gcpl.mpt"][1])
    discharge_mAh = GCPL_CURRENT_MA * GCPL_HOURS["discharge"]
    assert summary["discharge_capacity_mAh"] == pytest.approx(discharge_mAh, rel=1e-6)
    assert summary["coulombic_efficiency"] == pytest.approx(0.9, rel=1e-6)


def test_replay_plan_of_an_imported_spectrum_runs_eis_sweep_against_it(
    imported, config_file, tiled_client, capfd
):
    run = imported["eis.z"][0]
    uid = run.metadata["start"]["uid"]
    assert main(["replay", uid, "--plan", "--config", str(config_file)]) == 0
    replay_uid = re.search(r"run\(s\) (\S+) in", capfd.readouterr().out).group(1)
    replay = tiled_client["raw"][replay_uid]
    start = replay.metadata["start"]
    assert (start["plan_name"], start["replay_of"]) == ("eis_sweep", uid)
    assert start["plan_args"]["points_per_decade"] == 8
    ((f, zr, zi),) = spectra(replay)
    ((f0, zr0, zi0),) = spectra(run)
    np.testing.assert_allclose(f, f0, rtol=1e-6)
    np.testing.assert_array_equal(zr, zr0)
    np.testing.assert_array_equal(zi, zi0)


def test_replay_plan_of_imported_cycling_says_why_it_cannot(imported, config_file, capfd):
    uid = imported["gcpl.mpt"][0].metadata["start"]["uid"]
    assert main(["replay", uid, "--plan", "--config", str(config_file)]) == 2
    err = capfd.readouterr().err
    assert err == (
        f"acq: run {uid} was imported from gcpl.mpt, whose data no plan of this station "
        "measures (only a spectrum on an eis_sweep's frequencies is replayed)\n"
    )


@pytest.fixture(scope="module")
def garnet_config_file(station_config, tiled_server, tmp_path_factory):
    """The station with the garnet stations' circuit, bulk and two interfaces
    (acq/config/stations/garnet_symmetric.toml): no third arc, no Warburg."""
    raw = station_config.model_dump(mode="json")
    raw["tiled"].update(uri=tiled_server.uri, api_key=tiled_server.api_key)
    raw["analysis"]["circuit"] = "R0-RQ-RQ"
    return write_toml(parse_config(raw), tmp_path_factory.mktemp("garnet") / "station.toml")


def _import(config_file, tiled_client, *options):
    """(status, stdout, stderr, the analysis run or None) of ``acq import eis.z``."""
    out, err = io.StringIO(), io.StringIO()
    argv = ["import", str(HERE / "eis.z"), "--config", str(config_file), *options]
    with redirect_stdout(out), redirect_stderr(err):
        status = main(argv)
    found = re.search(r"analysis run (\S+)", out.getvalue())
    analysis = tiled_client["analysis"][found.group(1)] if found else None
    return status, out.getvalue(), err.getvalue(), analysis


def test_a_spectrum_the_configs_circuit_cannot_fit_names_the_circuit_its_drt_suggests(
    garnet_config_file, tiled_client
):
    status, out, err, analysis = _import(garnet_config_file, tiled_client)
    assert status == 0, err
    assert not summary_row(analysis)["eis_fit_converged"]
    assert (
        "  spectrum 0: the fit of R0-RQ-RQ did not converge; the DRT resolves 3 arcs and a "
        "diffusion tail: try --circuit R0-RQ-RQ-RQ-W\n"
    ) in out


def test_the_circuit_option_fits_the_spectrum_to_the_circuit_given_and_records_it(
    garnet_config_file, tiled_client
):
    status, out, err, analysis = _import(
        garnet_config_file, tiled_client, "--circuit", "R0-RQ-RQ-RQ-W"
    )
    assert status == 0, err
    summary = summary_row(analysis)
    assert summary["eis_fit_converged"]
    assert summary["R_ct_ohm"] == pytest.approx(R_CT_OHM["eis.z"], rel=0.01)
    assert list(analysis["eis_fit"].read()["circuit"].values) == ["R0-RQ-RQ-RQ-W"]
    assert "try --circuit" not in out


def test_an_unknown_circuit_is_refused_in_one_line_before_anything_is_written(
    garnet_config_file, tiled_client
):
    runs = len(tiled_client["raw"])
    status, out, err, _ = _import(garnet_config_file, tiled_client, "--circuit", "R0-RC")
    assert status == 2 and out == ""
    assert err == (
        "acq: circuit 'R0-RC': elements must be among ('L', 'R0', 'RQ', 'W'), joined by '-'\n"
    )
    assert len(tiled_client["raw"]) == runs
