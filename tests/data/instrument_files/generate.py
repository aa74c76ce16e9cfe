"""Writes the hand-written instrument files of this folder (see README.md), run once as
``python -m tests.data.instrument_files.generate`` from the repository root.

Each spectrum is an exact (noise-free) impedance of `SPECTRUM_TRUTH`'s circuit, R0 + three
R‖CPE arcs + a Warburg tail (`tests.unit.analysis.synthetic_eis.arc`, independent of the fit),
with the R_ct of its file (`R_CT_OHM`); the GCPL file is a full cell cycled twice at
`GCPL_CURRENT_MA` with the durations of `GCPL_HOURS`, so its capacities are known.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from conventions.impedance import sweep_frequencies_Hz
from tests.unit.analysis.synthetic_eis import arc

HERE = Path(__file__).parent
#: R0, the bulk and grain-boundary arcs and the Warburg tail of every spectrum (Ω, s, Ω·s^-½).
SPECTRUM_TRUTH = {
    "R0_ohm": 20.0,
    "R_b_ohm": 150.0,
    "tau_b_s": 1e-6,
    "R_gb_ohm": 300.0,
    "tau_gb_s": 1e-4,
    "tau_ct_s": 1e-2,
    "n": 0.9,
    "sigma_W_ohm_s05": 50.0,
}
#: The charge-transfer resistance of each file's spectrum, Ω.
R_CT_OHM = {"peis.mpt": 800.0, "eis.DTA": 600.0, "eis.z": 400.0}
#: Sweep of each file: (first, last frequency in Hz, points per decade).
SWEEPS = {"peis.mpt": (1e6, 0.1, 10), "eis.DTA": (1e6, 0.1, 10), "eis.z": (1e6, 0.1, 8)}
#: The GCPL file: current (mA, charge +), charge and discharge durations (h), record step (s).
GCPL_CURRENT_MA = 0.0714
GCPL_HOURS = {"charge": 1.0, "discharge": 0.9}
GCPL_STEP_S = 120.0


def spectrum(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Frequencies (Hz) and complex impedance (Ω) of file ``name``'s spectrum."""
    t = SPECTRUM_TRUTH
    f = sweep_frequencies_Hz(*SWEEPS[name])
    z = (
        t["R0_ohm"]
        + arc(f, t["R_b_ohm"], t["tau_b_s"], t["n"])
        + arc(f, t["R_gb_ohm"], t["tau_gb_s"], t["n"])
        + arc(f, R_CT_OHM[name], t["tau_ct_s"], t["n"])
        + t["sigma_W_ohm_s05"] * np.sqrt(2.0) / np.sqrt(2j * np.pi * f)
    )
    return f, z


def write_mpt(path: Path, technique: str, settings: list[str], columns: list[str], rows) -> None:
    """An EC-Lab ASCII export: the header line count, the technique, settings, the table."""
    header = [
        "EC-Lab ASCII FILE",
        "Nb header lines : {n}",
        "",
        technique,
        "",
        "Run on channel : 3 (SN 1234)",
        "User : ",
        "Electrode connection : standard",
        "Ewe ctrl range : min = -10.00 V, max = 10.00 V",
        "Acquisition started on : 03/14/2024 10:15:32.000",
        "Saved on :",
        "File : cell_A.mpr",
        "Device : VSP-300 (SN 1234)",
        "Cycle Definition : Charge/Discharge alternance",
        *settings,
        "",
        "\t".join(columns),
    ]
    text = "\n".join(header).replace("{n}", str(len(header))) + "\n"
    text += "".join("\t".join(f"{v:.7E}" for v in row) + "\n" for row in rows)
    path.write_bytes(text.encode("latin-1"))


def peis() -> None:
    f, z = spectrum("peis.mpt")
    rows = [
        (fi, zi.real, -zi.imag, abs(zi), -np.degrees(np.angle(zi)), 10.0 + k, 3.1, 0.0, 1.0)
        for k, (fi, zi) in enumerate(zip(f, z, strict=True))
    ]
    settings = [
        "Mode                Single sine",
        "E (V)               0.0000",
        "vs.                 Eoc",
        "fi                  1.000",
        "unit fi             MHz",
        "ff                  100.000",
        "unit ff             mHz",
        "Nd                  10",
        "Points              per decade",
        "spacing             Logarithmic",
        "Va (mV)             10.0",
        "Na                  2",
    ]
    columns = [
        "freq/Hz",
        "Re(Z)/Ohm",
        "-Im(Z)/Ohm",
        "|Z|/Ohm",
        "Phase(Z)/deg",
        "time/s",
        "<Ewe>/V",
        "<I>/mA",
        "cycle number",
    ]
    write_mpt(
        HERE / "peis.mpt",
        "Potentio Electrochemical Impedance Spectroscopy",
        settings,
        columns,
        rows,
    )


def gcpl() -> None:
    rows, t, q = [], 0.0, 0.0
    for half in range(4):
        step = "charge" if half % 2 == 0 else "discharge"
        sign = 1.0 if step == "charge" else -1.0
        duration_s = GCPL_HOURS[step] * 3600.0
        for s in np.arange(0.0, duration_s + GCPL_STEP_S / 2, GCPL_STEP_S):
            x = s / duration_s
            voltage = 3.6 + 0.5 * x if step == "charge" else 4.05 - 0.9 * x
            q_half = GCPL_CURRENT_MA * s / 3600.0
            rows.append(
                (
                    1,
                    half % 2,
                    t + s,
                    sign * GCPL_CURRENT_MA,
                    voltage,
                    sign * GCPL_CURRENT_MA,
                    q + sign * q_half,
                    half,
                    q_half,
                    half // 2,
                )
            )
        t += duration_s + GCPL_STEP_S
        q += sign * GCPL_CURRENT_MA * duration_s / 3600.0
    settings = [
        "Set I/C             I",
        "Is                  71.400",
        "unit Is             µA",
        "vs.                 <None>",
        "EM (V)              4.200",
        "dq                  0.000",
        "EL (V)              3.000",
        "nc cycles           1",
    ]
    columns = [
        "mode",
        "ox/red",
        "time/s",
        "control/mA",
        "Ewe/V",
        "I/mA",
        "(Q-Qo)/mA.h",
        "half cycle",
        "Q charge/discharge/mA.h",
        "cycle number",
    ]
    write_mpt(
        HERE / "gcpl.mpt",
        "Galvanostatic Cycling with Potential Limitation",
        settings,
        columns,
        rows,
    )


def gamry() -> None:
    f, z = spectrum("eis.DTA")
    lines = [
        "EXPLAIN",
        "TAG\tEISPOT",
        "TITLE\tLABEL\tPotentiostatic EIS\tTest &Identifier",
        "DATE\tLABEL\t3/14/2024\tDate",
        "TIME\tLABEL\t10:15:32\tTime",
        "PSTAT\tPSTAT\tIFC1010-12345\tPotentiostat",
        "FREQINIT\tQUANT\t1.00000E+006\tInitial Freq. (Hz)",
        "FREQFINAL\tQUANT\t1.00000E-001\tFinal Freq. (Hz)",
        "PTSPERDEC\tQUANT\t1.00000E+001\tPoints/decade",
        "VDC\tPOTEN\t0.00000E+000\tT\tDC Voltage (V)",
        "VACAMPL\tQUANT\t1.00000E+001\tAC Voltage (mV rms)",
        "AREA\tQUANT\t7.85398E-003\tArea (cm^2)",
        "ZCURVE\tTABLE",
        "\tPt\tTime\tFreq\tZreal\tZimag\tZsig\tZmod\tZphz\tIdc\tVdc\tIERange",
        "\t#\ts\tHz\tohm\tohm\tV\tohm\t°\tA\tV\t#",
    ]
    lines += [
        f"\t{k}\t{k + 1}\t{fi:.6E}\t{zi.real:.6E}\t{zi.imag:.6E}\t1.00000E+000\t{abs(zi):.6E}"
        f"\t{np.degrees(np.angle(zi)):.6E}\t1.0E-009\t3.1\t5"
        for k, (fi, zi) in enumerate(zip(f, z, strict=True))
    ]
    (HERE / "eis.DTA").write_bytes(("\n".join(lines) + "\n").encode("latin-1"))


def zplot() -> None:
    f, z = spectrum("eis.z")
    lines = [
        "ZPlot2 ASCII",
        "ZPlot for Windows v3.5g",
        "Sweep Freq",
        "Date:  03-14-2024",
        "Time:  10:15:32",
        "Instrument: Solartron 1260",
        "Freq Start: 1000000",
        "Freq End: 0.1",
        "Steps/Decade: 8",
        "Ampl: 0.01",
        "Begin Comments",
        "In-Li | LGPS | NCM111 pressed cell",
        "End Comments",
    ]
    lines += [
        f"{fi:.6E}, 1.0000E-02, 0.0000E+00, {k + 1:.4E}, {zi.real:.6E}, {zi.imag:.6E}, "
        f"0.0000E+00, 0, 3"
        for k, (fi, zi) in enumerate(zip(f, z, strict=True))
    ]
    (HERE / "eis.z").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    peis()
    gcpl()
    gamry()
    zplot()
