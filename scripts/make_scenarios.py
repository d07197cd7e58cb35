#!/usr/bin/python3
"""Write configs/scenarios/*.csv, the EBM's forcing scenarios, from rounded anchor values.

The numbers are APPROXIMATE, for an idealised model; they are not the CMIP6 forcing data sets.
CO2 (ppm): global-mean concentrations read off, and rounded from, the CMIP6 historical record
(Meinshausen et al. 2017, GMD 10, 2057) and the SSP concentration pathways (Meinshausen et al. 2020,
GMD 13, 3571), whose 2100 values are about 446 (SSP1-2.6), 603 (SSP2-4.5), 867 (SSP3-7.0) and
1135 ppm (SSP5-8.5). aerosol_index: global anthropogenic SO2 emissions relative to their 1980 peak,
shaped after the CEDS historical inventory (Hoesly et al. 2018) and the SSP marker scenarios
(Gidden et al. 2019): strong air-quality control in SSP1 and SSP5, weak in SSP3.
Between anchors, CO2 is interpolated by a monotone cubic (Fritsch-Carlson), the index linearly.

Usage: /usr/bin/python3 scripts/make_scenarios.py   (rewrites the files; plain Python, no numpy)
"""
import os

HIST_CO2 = {1850: 284.3, 1860: 286.0, 1870: 287.4, 1880: 290.7, 1890: 294.2, 1900: 296.2,
            1910: 299.7, 1920: 303.0, 1930: 307.2, 1940: 310.5, 1950: 312.8, 1960: 316.9,
            1970: 325.0, 1980: 338.4, 1990: 353.9, 2000: 368.9, 2005: 378.8, 2010: 388.7,
            2014: 397.5}
HIST_AER = {1850: 0.02, 1900: 0.12, 1920: 0.18, 1940: 0.28, 1950: 0.35, 1960: 0.52, 1970: 0.82,
            1980: 1.0, 1990: 0.95, 2000: 0.80, 2005: 0.85, 2010: 0.80, 2014: 0.74}
SSP = {
    "ssp126": ({2014: 397.5, 2030: 437, 2040: 457, 2050: 470, 2060: 474, 2070: 472, 2080: 465,
                2090: 456, 2100: 446},
               {2014: 0.74, 2030: 0.40, 2050: 0.18, 2070: 0.10, 2100: 0.06}),
    "ssp245": ({2014: 397.5, 2030: 448, 2040: 479, 2050: 509, 2060: 537, 2070: 563, 2080: 583,
                2090: 596, 2100: 603},
               {2014: 0.74, 2030: 0.58, 2050: 0.38, 2070: 0.25, 2100: 0.16}),
    "ssp370": ({2014: 397.5, 2030: 453, 2040: 495, 2050: 541, 2060: 593, 2070: 651, 2080: 717,
                2090: 790, 2100: 867},
               {2014: 0.74, 2030: 0.80, 2050: 0.82, 2070: 0.78, 2100: 0.65}),
    "ssp585": ({2014: 397.5, 2030: 457, 2040: 504, 2050: 563, 2060: 637, 2070: 730, 2080: 841,
                2090: 975, 2100: 1135},
               {2014: 0.74, 2030: 0.55, 2050: 0.35, 2070: 0.22, 2100: 0.14}),
}


def linear(anchors, years):
    xs = sorted(anchors)
    out = []
    for y in years:
        k = max(i for i in range(len(xs) - 1) if xs[i] <= y) if y < xs[-1] else len(xs) - 2
        x0, x1 = xs[k], xs[k + 1]
        f = (y - x0) / (x1 - x0)
        out.append(anchors[x0] * (1 - f) + anchors[x1] * f)
    return out


def pchip(anchors, years):
    xs = sorted(anchors)
    ys = [anchors[x] for x in xs]
    n = len(xs)
    h = [xs[i + 1] - xs[i] for i in range(n - 1)]
    d = [(ys[i + 1] - ys[i]) / h[i] for i in range(n - 1)]
    m = [0.0] * n
    m[0], m[-1] = d[0], d[-1]
    for i in range(1, n - 1):
        if d[i - 1] * d[i] <= 0:
            m[i] = 0.0
        else:
            w1, w2 = 2 * h[i] + h[i - 1], h[i] + 2 * h[i - 1]
            m[i] = (w1 + w2) / (w1 / d[i - 1] + w2 / d[i])
    out = []
    for y in years:
        k = max(i for i in range(n - 1) if xs[i] <= y) if y < xs[-1] else n - 2
        t = (y - xs[k]) / h[k]
        h00, h10 = 2 * t**3 - 3 * t**2 + 1, t**3 - 2 * t**2 + t
        h01, h11 = -2 * t**3 + 3 * t**2, t**3 - t**2
        out.append(h00 * ys[k] + h10 * h[k] * m[k] + h01 * ys[k + 1] + h11 * h[k] * m[k + 1])
    return out


def write(name, years, co2, aer, note):
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "configs", "scenarios",
                        name + ".csv")
    with open(path, "w") as f:
        f.write("# %s: approximate forcing for kelvin's energy-balance model (%s)\n" % (name, note))
        f.write("# written by scripts/make_scenarios.py; see that file for the sources\n")
        f.write("year,co2_ppm,aerosol_index\n")
        for y, c, a in zip(years, co2, aer):
            f.write("%d,%.2f,%.4f\n" % (y, c, a))


hist = list(range(1850, 2015))
write("historical", hist, pchip(HIST_CO2, hist), linear(HIST_AER, hist), "1850-2014")
fut = list(range(2015, 2101))
for name, (co2, aer) in SSP.items():
    write(name, fut, pchip(co2, fut), linear(aer, fut), "2015-2100, continues historical")
