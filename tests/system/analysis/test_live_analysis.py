"""Live analysis of the session's pressure series (in process), and the analysis worker fed
over 0MQ (a separate process), both writing analysis runs to the real Tiled server."""

from __future__ import annotations

import numpy as np
import psutil
import pytest

from acq.analysis.raw_run import RawRunError
from acq.analysis.results import wait_for_analysis
from acq.config import parse_config
from acq.demo.summary import ANALYSIS_KEYS
from acq.replay.analysis import replay_analysis
from acq.runtime.engine import make_run_engine
from acq.services import AnalysisWorkerProcess
from acq.services.ports import free_tcp_port
from plans import eis_sweep
from simulated_devices.physics.impedance import circuit_at
from simulated_devices.physics.microstructure import microstructure_at
from simulated_devices.physics.parameters import CellParameters
from tests.system.series_settings import PRESSURES_MPA


def test_every_raw_run_gets_an_analysis_run_that_names_it(pressure_series_run, tiled_client):
    for uid, pressure in zip(pressure_series_run.uids, PRESSURES_MPA, strict=True):
        run = wait_for_analysis(tiled_client["analysis"], uid, timeout_s=5)
        start = run.metadata["start"]
        assert (start["raw_uid"], start["pressure_MPa"], start["replay"]) == (uid, pressure, False)
        assert start["versions"]["ssb-beamline"]
        assert {"summary", "eis_fit", "cycles", "ct"} <= set(run)
        summary = run["summary"].read()
        assert set(ANALYSIS_KEYS) - {"capacity_ratio"} <= set(summary)
        assert bool(summary["eis_fit_converged"].values[0])


def test_live_R_ct_is_the_simulators_and_falls_with_pressure(pressure_series_run, tiled_client):
    params = CellParameters()
    fitted = []
    for uid in pressure_series_run.uids:
        measured_MPa = float(
            np.mean(tiled_client["raw"][uid]["primary"]["press_pressure_MPa"].read())
        )
        truth = circuit_at(microstructure_at(measured_MPa, params), params).R_ct_ohm
        summary = wait_for_analysis(tiled_client["analysis"], uid, 5)["summary"].read()
        fitted.append(float(summary["R_ct_ohm"].values[0]))
        # One spectrum of 4 points per decade each: the fit's accuracy over many spectra is
        # tested in test_eis_fit; at 6 MPa the live value has read 3-5 % high (see README).
        assert fitted[-1] == pytest.approx(truth, rel=0.08)
    assert fitted[0] > 5 * fitted[1]  # 6 → 50 MPa: R_ct ∝ 1/P


def test_the_worker_analyses_runs_it_receives_over_0mq(
    station, station_config, tiled_server, tiled_client
):
    raw = station_config.model_dump(mode="json")
    raw["analysis"].update(zmq_in_port=free_tcp_port(), zmq_out_port=free_tcp_port())
    config = parse_config(raw)
    with AnalysisWorkerProcess(config, tiled_server.uri, tiled_server.api_key) as worker:
        engine = make_run_engine(config, tiled_client, publish=True)
        (uid,) = engine.RE(eis_sweep(station.potentiostat, points_per_decade=5))
        engine.close()
        try:
            run = wait_for_analysis(tiled_client["analysis"], uid, timeout_s=60)
        except TimeoutError:
            pytest.fail(f"no analysis from the worker; its log:\n{worker.log_tail()}")
        listening = {
            connection.laddr
            for connection in psutil.net_connections(kind="tcp")
            if connection.status == psutil.CONN_LISTEN
            and connection.laddr.port
            in (config.analysis.zmq_in_port, config.analysis.zmq_out_port)
        }
    fit = run["eis_fit"].read()
    assert bool(fit["converged"].values[0])
    # the document stream is served on loopback only (bluesky-0MQ-proxy binds every interface
    # when given bare ports)
    assert {address.ip for address in listening} == {"127.0.0.1"}
    assert len(listening) == 2


def test_replay_gives_the_live_numbers_in_a_new_analysis_run(
    pressure_series_run, tiled_client, station_config
):
    uid = pressure_series_run.uids[0]
    live = wait_for_analysis(tiled_client["analysis"], uid, 5)
    replayed = tiled_client["analysis"][
        replay_analysis(tiled_client, uid, station_config.analysis.circuit)
    ]
    assert replayed.metadata["start"]["replay"] is True
    assert replayed.metadata["start"]["raw_uid"] == uid
    for stream in ("summary", "eis_fit", "cycles", "ct"):
        ours, theirs = live[stream].read(), replayed[stream].read()
        for key in ours:
            if key in ("time", "seq_num") or ours[key].dtype.kind not in "fcib":
                continue
            np.testing.assert_allclose(
                np.asarray(theirs[key]),
                np.asarray(ours[key]),
                rtol=1e-9,
                equal_nan=True,
                err_msg=f"{stream}.{key}",
            )


def test_replay_of_a_missing_or_unfinished_run_says_what_is_wrong(tiled_client):
    with pytest.raises(RawRunError, match="no run 'not-a-uid'"):
        replay_analysis(tiled_client, "not-a-uid", "R0-RQ-RQ-RQ-W")
